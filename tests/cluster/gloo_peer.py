#!/usr/bin/env python3
"""The gloo yardstick on the simulated cluster: one rank of PyTorch's gloo backend, started by bench.sh in its own
network namespace, rendezvousing over TCP at rank 0's address. Measured as ../shared/peers/ddp_bench.py measures on
loopback, so that the two sets of figures compare: the mean of back-to-back all_reduces after two warm-ups, and DDP
training steps (Adam, synthetic batches, 1 thread per rank) after three.

  gloo_peer.py allreduce RANK WORLD MASTER_ADDR SIZE_MB ITERS
  gloo_peer.py train MODEL RANK WORLD MASTER_ADDR GLOBAL_BATCH STEPS     (MODEL: mnist-cnn or imdb-lstm)
Rank 0 prints one line: time and bus bandwidth, or samples/s.
"""
import datetime, sys, time
import torch, torch.nn as nn, torch.distributed as dist

PORT = 29500

def join(rank, world, master):
    torch.set_num_threads(1)
    # Bounded: a rank whose peers never come gives up after two minutes instead of gloo's default half hour.
    dist.init_process_group("gloo", init_method=f"tcp://{master}:{PORT}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))

def allreduce(rank, world, master, mb, iters):
    join(rank, world, master)
    n = int(mb * 1024 * 1024 / 4)
    t = torch.ones(n)
    for _ in range(2): dist.all_reduce(t)
    dist.barrier(); s = time.perf_counter()
    for _ in range(iters): dist.all_reduce(t)
    dist.barrier(); dt = (time.perf_counter() - s) / iters
    if rank == 0:
        algbw = n * 4 / dt / 1e9
        print(f"gloo allreduce world={world} size={mb}MB time={dt*1e3:.2f}ms algbw={algbw:.3f}GB/s busbw={algbw * 2 * (world - 1) / world:.3f}GB/s")
    dist.destroy_process_group()

class Lstm(nn.Module):
    """imdb-lstm: Embedding(10000, 128), LSTM(128), Dense(1)."""
    def __init__(s):
        super().__init__(); s.e = nn.Embedding(10000, 128); s.l = nn.LSTM(128, 128, batch_first=True); s.f = nn.Linear(128, 1)
    def forward(s, x):
        o, _ = s.l(s.e(x)); return s.f(o[:, -1])

def model_and_batch(name, b):
    if name == "mnist-cnn":
        m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(1600, 64), nn.ReLU(), nn.Linear(64, 10))
        return m, torch.randn(b, 1, 28, 28), torch.randint(0, 10, (b,)), nn.CrossEntropyLoss()
    if name == "imdb-lstm":
        return Lstm(), torch.randint(0, 10000, (b, 256)), torch.randint(0, 2, (b, 1)).float(), nn.BCEWithLogitsLoss()
    sys.exit(f"unknown model {name}")

def train(name, rank, world, master, gbatch, steps):
    join(rank, world, master)
    torch.manual_seed(0)
    m, x, y, lossf = model_and_batch(name, gbatch // world)
    model = nn.parallel.DistributedDataParallel(m) if world > 1 else m
    opt = torch.optim.Adam(model.parameters())
    def step():
        opt.zero_grad(); lossf(model(x), y).backward(); opt.step()
    for _ in range(3): step()
    dist.barrier(); s = time.perf_counter()
    for _ in range(steps): step()
    dist.barrier(); dt = time.perf_counter() - s
    if rank == 0:
        print(f"ddp-gloo train model={name} world={world} global_batch={gbatch} samples/s={steps * gbatch / dt:.1f}")
    dist.destroy_process_group()

if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "allreduce":
        allreduce(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), int(sys.argv[6]))
    elif mode == "train":
        train(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7]))
    else:
        sys.exit(__doc__)
