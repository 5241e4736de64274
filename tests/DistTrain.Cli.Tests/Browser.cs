using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace DistTrain.Cli.Tests;

/// <summary>
/// Debian's chromium, headless, driven through its chromium-driver by Selenium WebDriver (test.sh installs both; no
/// browser is downloaded). Every wait is bounded and fails with what the page showed; disposing quits the browser and
/// its driver.
/// </summary>
internal sealed class Browser : IDisposable
{
    private readonly ChromeDriver _driver;

    public Browser(int width = 1366, int height = 900)
    {
        string chromium = BackgroundProcess.Program("chromium", "test.sh installs Debian's chromium");
        string driver = BackgroundProcess.Program("chromedriver", "test.sh installs Debian's chromium-driver");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driver)!, Path.GetFileName(driver));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = chromium };
        // Root in CI has no user namespace sandbox; the shared-memory and GPU switches keep headless Chromium within a container's limits.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", $"--window-size={width},{height}",
            "--no-first-run", "--disable-extensions");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        _driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
        _driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(30);
    }

    public IWebDriver Driver => _driver;

    public void Open(string url) => _driver.Navigate().GoToUrl(url);

    /// <summary>
    /// Waits until <paramref name="condition"/> gives something other than its type's default (false, 0, null), and returns
    /// it; a missing or stale element, or one not clickable yet, counts as not yet.
    /// </summary>
    public T Until<T>(Func<IWebDriver, T> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                var value = condition(_driver);
                if (!EqualityComparer<T>.Default.Equals(value, default!)) return value;
            }
            catch (Exception e) when (e is NoSuchElementException or StaleElementReferenceException or ElementClickInterceptedException
                or ElementNotInteractableException)
            {
            }
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"the page at {_driver.Url} did not show {what} within {timeout.TotalSeconds:0} s; it shows:\n{Text()}");
            Thread.Sleep(200);
        }
    }

    /// <summary>
    /// An attribute of the first element <paramref name="css"/> finds, or null; read in one script, since the page
    /// redraws its tables and charts as messages arrive and an element found beforehand may be gone.
    /// </summary>
    public static string? Attribute(IWebDriver driver, string css, string attribute) =>
        ((IJavaScriptExecutor)driver).ExecuteScript("const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;",
            css, attribute) as string;

    public string? Attribute(string css, string attribute) => Attribute(_driver, css, attribute);

    /// <summary>Clicks the element once it is there and shown (again, should a redraw replace it before the click lands).</summary>
    public void Click(string css, TimeSpan timeout) => Until(d =>
    {
        var element = d.FindElement(By.CssSelector(css));
        if (!element.Displayed) return false;
        element.Click();
        return true;
    }, timeout, $"{css} to click");

    public IWebElement Find(string css) => _driver.FindElement(By.CssSelector(css));

    public IReadOnlyList<IWebElement> FindAll(string css) => _driver.FindElements(By.CssSelector(css));

    /// <summary>The page's visible text, for failure messages.</summary>
    public string Text()
    {
        try
        {
            return _driver.FindElement(By.TagName("body")).Text;
        }
        catch (WebDriverException e)
        {
            return $"(no page text: {e.Message})";
        }
    }

    /// <summary>Saves a PNG of the window to <paramref name="path"/>.</summary>
    public void Screenshot(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        _driver.GetScreenshot().SaveAsFile(path);
    }

    /// <summary>Errors the page's scripts logged, or the browser logged about the page (a CSP refusal, say).</summary>
    public IReadOnlyList<string> SevereLogs()
    {
        try
        {
            return [.. _driver.Manage().Logs.GetLog(LogType.Browser).Where(l => l.Level >= LogLevel.Severe).Select(l => l.Message)];
        }
        catch (WebDriverException)
        {
            return [];
        }
    }

    public void Dispose() => _driver.Quit();
}
