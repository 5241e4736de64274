using DistTrain.Protos;
using Grpc.Core;

namespace DistTrain.Coordinator.Services;

/// <summary>The Jobs API over <see cref="JobRegistry"/>, which reads and writes the job grains.</summary>
[Grpc.Core.BindServiceMethod(typeof(JobsService), nameof(BindService))]
public sealed class JobsService(JobRegistry registry, Web.WebPageAddress page) : Jobs.JobsBase
{
    /// <summary>Binds the service with requests parsed strictly (<see cref="Protos.Security.StrictParsing"/>); the parameter is the generated
    /// base type, through which gRPC finds each method's override.</summary>
    public static void BindService(Grpc.Core.ServiceBinderBase binder, Jobs.JobsBase? service) => Jobs.BindService(new Protos.Security.StrictParsing(binder), service);

    public override Task<Job> Submit(SubmitJobRequest request, ServerCallContext context) => Errors.Map(async () => WithPage(await registry.SubmitAsync(request.Spec)));
    public override Task<Job> Get(GetJobRequest request, ServerCallContext context) => Errors.Map(async () => WithPage(await registry.GetAsync(request.Id)));

    // Where the job's page is, so that `submit` can print it (the host is the one the caller reached).
    private Job WithPage(Job job)
    {
        job.PagePort = page.Port;
        return job;
    }
    public override Task<Job> Cancel(CancelJobRequest request, ServerCallContext context) => Errors.Map(() => registry.CancelAsync(request.Id));

    public override Task<ListJobsResponse> List(ListJobsRequest request, ServerCallContext context) => Errors.Map(async () =>
    {
        var response = new ListJobsResponse();
        response.Jobs.AddRange(await registry.ListAsync());
        return response;
    });

    public override async Task Watch(GetJobRequest request, IServerStreamWriter<Job> responseStream, ServerCallContext context)
    {
        while (!context.CancellationToken.IsCancellationRequested)
        {
            var changed = registry.ChangedAsync(context.CancellationToken);
            var job = await Errors.Map(() => registry.GetAsync(request.Id));
            await responseStream.WriteAsync(job, context.CancellationToken);
            if (JobRegistry.IsTerminal(job.Status)) return;
            await JobRegistry.PaceAsync(changed, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), context.CancellationToken);
        }
    }
}
