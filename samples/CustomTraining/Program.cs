using DistTrain.Data;
using DistTrain.Distributed;
using DistTrain.Engine.Layers;
using DistTrain.Engine.Losses;
using DistTrain.Engine.Model;
using DistTrain.Engine.Optimizers;

// Three measurements and a class per row; 20% of the rows are held out for testing.
var data = DataChoice.ForFile(args.Length > 0 ? args[0] : "clusters.csv").Load(Console.Error.WriteLine);

var model = new Sequential(data.TrainX.Shape[1..], seed: 1, name: "clusters-mlp");
model.Add(new Dense(32, "relu"));
model.Add(new Dense(3, "softmax"));
model.Compile(new Adam(0.01f), new SparseCategoricalCrossentropy(), ["accuracy"]);

// Data-parallel under `disttrain launch`; one process when run alone.
int epochs = args.Length > 1 ? int.Parse(args[1]) : 10;
var history = model.FitDistributed(data.TrainX, data.TrainY, epochs, batchSize: 64, validationData: (data.TestX, data.TestY));

if (DistributedFit.Rank == 0)
    Console.WriteLine($"val_accuracy {history["val_accuracy"][^1]:F4} after {history.Epochs} epochs");
