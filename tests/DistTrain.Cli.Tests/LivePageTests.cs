using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using OpenQA.Selenium;

namespace DistTrain.Cli.Tests;

/// <summary>
/// The coordinator's live page in a real browser (Debian's chromium through Selenium and chromium-driver), against real
/// processes: a `disttrain local` run whose page fills in while it trains, shows the same figures as `status --json`,
/// cancels a second job with its button, and stays up with the whole run once it has ended (--stay); and a coordinator killed with SIGKILL and started again on the same
/// state, whose page still draws the whole run it had finished. Screenshots go to screenshots/ beside the tests; the
/// README's is the first test's job-page.png.
/// </summary>
public class LivePageTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("dt-page-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Where the tests leave their screenshots, for people to look at.</summary>
    public static string Screenshots => Path.Combine(AppContext.BaseDirectory, "screenshots");

    private Dictionary<string, string> Env() => new() { ["DISTTRAIN_DATA"] = Path.Combine(_dir, "cache") };

    [Fact]
    public void The_page_of_a_local_run_fills_in_live_matches_status_and_cancels_a_second_job()
    {
        // The real digits from the data cache that test.sh fills (never the network), so that the screenshot shows a real curve.
        string digits = Path.Combine(Data.DataCache.Root, Data.Mnist.CacheName);
        Assert.True(Directory.Exists(digits), $"the MNIST cache {digits} is missing; run 'disttrain data fetch mnist' first");
        int port = BackgroundProcess.FreePort();
        using var run = BackgroundProcess.Disttrain(["local", "--workers", "2", "--dataset", "mnist", "--model", "mnist-cnn", "--epochs", "500",
            "--data-dir", digits, "--metrics-port", port.ToString(CultureInfo.InvariantCulture), "--stay"], Env());
        string coordinator = Regex.Match(run.WaitForLine(l => l.StartsWith("coordinator http://", StringComparison.Ordinal), Patience),
            @"coordinator (http://\S+)").Groups[1].Value;
        string tokenFile = Regex.Match(run.WaitForLine(l => l.Contains("--token-file", StringComparison.Ordinal), TimeSpan.FromSeconds(5)),
            @"--token-file (\S+)").Groups[1].Value;
        string link = run.WaitForLine(l => l.StartsWith("page: ", StringComparison.Ordinal), Patience)["page: ".Length..];
        string[] cli = ["--coordinator", coordinator, "--token-file", tokenFile];
        using var browser = new Browser(1366, 1400);

        // Without the session the page asks for the token, and a wrong one is refused.
        browser.Open($"http://127.0.0.1:{port}/jobs/job-1");
        browser.Until(d => d.Url.Contains("/login", StringComparison.Ordinal), Patience, "the login form");
        browser.Find("input[name=token]").SendKeys("not-the-cluster-token-at-all");
        browser.Find("form").Submit();
        browser.Until(d => d.FindElement(By.Id("login-error")).Text.Length > 0, Patience, "the login error");
        // The refusal's 401 is the only thing the browser logged so far (reading the log empties it).
        Assert.All(browser.SevereLogs(), m => Assert.Contains("401", m));

        // The link `local` printed logs in, lands on the job, and leaves no token in the address bar.
        browser.Open(link);
        browser.Until(d => d.Url.EndsWith("/jobs/job-1", StringComparison.Ordinal), Patience, "the job page");
        int points = browser.Until(d => LossPoints(d) is var n && n >= 20 && d.FindElements(By.CssSelector("#epochs-table tbody tr")).Count >= 2 ? n : 0,
            Patience, "20 loss points and two epoch rows");
        // Live: more points arrive without a reload.
        browser.Until(d => LossPoints(d) > points, Patience, "more loss points without a reload");
        Assert.Equal("running", browser.Attribute("#job-status", "data-status"));
        Assert.Equal(2, browser.FindAll("#job-workers-table tbody tr").Count);

        // The epoch rows show what `status --json` says.
        var rows = EpochRows(browser.Driver);
        var history = JsonDocument.Parse(Status("job-1", cli)).RootElement.GetProperty("history").EnumerateArray()
            .ToDictionary(e => e.GetProperty("epoch").GetInt32());
        foreach (var row in rows)
        {
            var epoch = history[(int)row["epoch"].Value];
            foreach (var (field, json) in new[] { ("loss", "loss"), ("accuracy", "accuracy"), ("testLoss", "test_loss"), ("testAccuracy", "test_accuracy") })
            {
                Assert.Equal(epoch.GetProperty(json).GetDouble(), Math.Round(row[field].Value, 6), 9);
                // Shown to 4 places, of the same number (status --json rounds to 6, which can round the 4th place otherwise).
                Assert.Equal(row[field].Value.ToString("F4", CultureInfo.InvariantCulture), row[field].Text);
            }
        }
        // Three epochs in, for the screenshot the README shows.
        browser.Until(d => d.FindElements(By.CssSelector("#epochs-table tbody tr")).Count >= 3, Patience, "three epoch rows");
        browser.Screenshot(Path.Combine(Screenshots, "job-page.png"));

        // A second job waits for workers (both are in job-1); its page's button cancels it.
        using var second = BackgroundProcess.Disttrain(["submit", .. cli, "--workers", "1", "--dataset", "mnist", "--model", "mnist-mlp", "--epochs", "5"], Env());
        second.WaitForLine(l => l.Contains("submitted job-2", StringComparison.Ordinal), Patience);
        Assert.Contains(second.Output.Split('\n'), l => l == $"page: http://127.0.0.1:{port}/jobs/job-2");
        browser.Open($"http://127.0.0.1:{port}/jobs/job-2");
        browser.Until(d => Browser.Attribute(d, "#job-status", "data-status") == "pending", Patience, "job-2 pending");
        browser.Click("#cancel-button", Patience);
        browser.Until(d => d.FindElement(By.Id("cancel-confirm")).Displayed, Patience, "the confirmation");
        browser.Click("#cancel-confirm", Patience);
        browser.Until(d => Browser.Attribute(d, "#job-status", "data-status") == "cancelled", Patience, "job-2 cancelled");
        Assert.Equal("cancelled", JsonDocument.Parse(Status("job-2", cli)).RootElement.GetProperty("status").GetString());
        Assert.Equal(1, second.ExitsWithin(Patience));

        // The jobs page lists both, live; the workers page both workers.
        browser.Open($"http://127.0.0.1:{port}/");
        browser.Until(d => d.FindElements(By.CssSelector("#jobs-table tbody tr[data-job]")).Count == 2, Patience, "two jobs");
        Assert.Equal("cancelled", browser.Attribute("#jobs-table tr[data-job=job-2]", "data-status"));
        Assert.Equal("running", browser.Attribute("#jobs-table tr[data-job=job-1]", "data-status"));
        browser.Screenshot(Path.Combine(Screenshots, "jobs-page.png"));
        browser.Open($"http://127.0.0.1:{port}/workers");
        browser.Until(d => d.FindElements(By.CssSelector("#workers-table tbody tr[data-status=training]")).Count == 2, Patience, "two training workers");
        Assert.Empty(browser.SevereLogs()); // no script error, no refusal by the Content-Security-Policy

        // A phone's screen, for people to look at.
        using (var phone = new Browser(390, 844))
        {
            phone.Open(link);
            phone.Until(d => LossPoints(d) > 0, Patience, "the loss curve on a phone");
            phone.Screenshot(Path.Combine(Screenshots, "job-page-phone.png"));
        }

        // Cancelled, the run's page stays up (--stay) with the whole run on it, until SIGTERM ends every process.
        int drawn = LossPoints(browser.Driver);
        var cancel = CliProcess.Run(["cancel", "job-1", .. cli], timeoutSeconds: 60);
        Assert.True(cancel.ExitCode == 0, cancel.Stderr);
        run.WaitForLine(l => l.StartsWith("the page stays up at ", StringComparison.Ordinal), Patience);
        browser.Open($"http://127.0.0.1:{port}/jobs/job-1");
        browser.Until(d => Browser.Attribute(d, "#job-status", "data-status") == "cancelled", Patience, "job-1 cancelled");
        Assert.True(browser.Until(d => LossPoints(d), Patience, "the curve of the ended run") >= drawn);
        run.Signal(15);
        run.WaitForExit(Patience);
        BackgroundProcess.AssertAllGone(run.Output);
    }

    [Fact]
    public async Task A_coordinator_killed_and_started_again_still_draws_the_whole_run()
    {
        SyntheticDigits.Write(_dir, 1200, 200);
        int port = BackgroundProcess.FreePort(), web = BackgroundProcess.FreePort();
        string state = Path.Combine(_dir, "state");
        string[] coordinatorArgs = ["coordinator", "--bind", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture), "--state-dir", state,
            "--data-dir", _dir, "--metrics-bind", "127.0.0.1", "--metrics-port", web.ToString(CultureInfo.InvariantCulture)];
        string url = $"http://127.0.0.1:{port}", page = $"http://127.0.0.1:{web}";
        var coordinator = BackgroundProcess.Disttrain(coordinatorArgs, Env());
        try
        {
            coordinator.WaitForLine(l => l.StartsWith($"coordinator page at {page}/", StringComparison.Ordinal), Patience);
            using var w0 = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1", "--once"], Env());
            using var w1 = BackgroundProcess.Disttrain(["worker", "--coordinator", url, "--bind", "127.0.0.1", "--once"], Env());
            var submit = CliProcess.Run(["submit", "--coordinator", url, "--workers", "2", "--dataset", "mnist", "--model", "mnist-cnn", "--epochs", "4",
                "--batch-size", "32"], Env(), timeoutSeconds: 300);
            Assert.True(submit.ExitCode == 0, submit.Stdout + submit.Stderr);

            using var browser = new Browser();
            browser.Open($"{page}/jobs/job-1"); // loopback, no token: no login
            browser.Until(d => Browser.Attribute(d, "#job-status", "data-status") == "completed", Patience, "job-1 completed");
            int points = browser.Until(d => LossPoints(d), Patience, "the loss curve");
            Assert.True(points >= 5, $"only {points} loss points");
            Assert.Equal(4, browser.FindAll("#epochs-table tbody tr").Count);
            string final = browser.Until(d => d.FindElements(By.CssSelector("#checkpoints-list a.download")).FirstOrDefault(a => a.Text.Contains("final"))
                ?.GetDomProperty("href"), Patience, "the final model's download link")!;

            // SIGKILL, then the same state: the page draws the same run, point for point.
            coordinator.Signal(9);
            coordinator.WaitForExit(Patience);
            coordinator.Dispose();
            coordinator = BackgroundProcess.Disttrain(coordinatorArgs, Env());
            coordinator.WaitForLine(l => l.StartsWith($"coordinator page at {page}/", StringComparison.Ordinal), Patience);
            browser.Open($"{page}/jobs/job-1");
            browser.Until(d => Browser.Attribute(d, "#job-status", "data-status") == "completed", Patience, "job-1 completed after the restart");
            Assert.Equal(points, browser.Until(d => LossPoints(d), Patience, "the loss curve after the restart"));
            Assert.Equal(4, browser.FindAll("#epochs-table tbody tr").Count);
            browser.Screenshot(Path.Combine(Screenshots, "job-page-after-restart.png"));

            // The final model downloads from the link, whole: a model file `evaluate` reads.
            using var http = new HttpClient();
            byte[] model = await http.GetByteArrayAsync(final);
            var (loaded, _) = Engine.Model.ModelFile.Read(model, "the downloaded model");
            Assert.NotNull(loaded);
        }
        finally
        {
            coordinator.Dispose();
        }
    }

    private static int LossPoints(IWebDriver d) => int.TryParse(Browser.Attribute(d, "#loss-chart", "data-points"), out int n) ? n : 0;

    // The epoch table's cells, read in one script: the page redraws the table as messages arrive, so elements found one
    // call at a time could go stale in between.
    private static List<Dictionary<string, (double Value, string Text)>> EpochRows(IWebDriver d) =>
        [.. ((IEnumerable<object>)((IJavaScriptExecutor)d).ExecuteScript(
            "return [...document.querySelectorAll('#epochs-table tbody tr')].map(tr => [...tr.querySelectorAll('td[data-field]')]"
            + ".map(td => [td.dataset.field, td.dataset.value, td.textContent.trim()]))")!)
            .Select(row => ((IEnumerable<object>)row).Cast<IEnumerable<object>>().Select(cell => cell.Cast<string>().ToArray())
                .ToDictionary(c => c[0], c => (double.Parse(c[1], CultureInfo.InvariantCulture), c[2])))];

    private static string Status(string job, string[] cli)
    {
        var status = CliProcess.Run(["status", job, .. cli, "--json"], timeoutSeconds: 60);
        Assert.True(status.ExitCode == 0, status.Stderr);
        return status.LastLine;
    }
}
