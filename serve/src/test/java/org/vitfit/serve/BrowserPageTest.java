package org.vitfit.serve;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.vitfit.classify.Classification;
import org.vitfit.classify.VitClassifier;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The page in a real browser: Debian's headless Chromium, driven through chromedriver, loads the page from the
 * server, uploads a pet photo through the file input and must show the classifier's top label, the probability bars
 * and the image. A screenshot is kept in {@code target/browser/predict-page.png}.
 */
class BrowserPageTest {

    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");

    @TempDir
    Path profile;

    /** CI installs Chromium (see .ci/run), so there a missing browser is a failure; elsewhere the test says why it skips. */
    private static void requireBrowser() {
        if (Files.isExecutable(CHROMEDRIVER) && Files.isExecutable(CHROMIUM)) {
            return;
        }
        String why = CHROMEDRIVER + " or " + CHROMIUM + " is missing; install them with "
                + "'apt-get install -y chromium chromium-driver'";
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            fail(why + " (CI=true, where .ci/run installs them)");
        }
        Assumptions.abort("browser test skipped: " + why);
    }

    @Test
    void uploadingAPhotoShowsItsTopLabelWithBars() throws Exception {
        requireBrowser();
        Path photo = PetsClassifier.photo("Abyssinian");
        try (VitClassifier classifier = VitClassifier.load(PetsClassifier.file());
             ClassifierServer server = ClassifierServer.start(classifier,
                     ClassifierServer.Options.defaults().withPort(0).withThreads(2))) {
            Classification expected = classifier.classify(photo);

            // Selenium warns that it has no DevTools bindings for this Chromium; classic WebDriver needs none.
            Logger.getLogger("org.openqa.selenium").setLevel(Level.SEVERE);
            ChromeDriverService service = new ChromeDriverService.Builder()
                    .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
            ChromeOptions options = new ChromeOptions();
            options.setBinary(CHROMIUM.toFile());
            options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1200,900", "--user-data-dir=" + profile.toAbsolutePath());
            WebDriver driver = new ChromeDriver(service, options);
            try {
                driver.get(server.uri().toString());
                WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(60));
                wait.until(d -> d.findElement(By.id("model-info")).getText().contains("4 labels"));

                driver.findElement(By.id("file-input")).sendKeys(photo.toAbsolutePath().toString());
                WebElement result = driver.findElement(By.id("result"));
                wait.until(d -> List.of("done", "error").contains(result.getAttribute("data-state")));
                assertFalse(driver.findElement(By.id("error")).isDisplayed(),
                        "error shown: " + driver.findElement(By.id("error")).getText());

                String topLabel = driver.findElement(By.id("top-label")).getText();
                assertEquals(expected.best().label(), topLabel);
                assertEquals("Abyssinian", topLabel, "the head trained on Abyssinians names an Abyssinian photo");

                List<WebElement> rows = driver.findElements(By.cssSelector("#score-list li"));
                assertEquals(4, rows.size(), "one bar per label, up to five");
                String firstPct = rows.get(0).findElement(By.className("pct")).getText();
                assertEquals(String.format(Locale.ROOT, "%.1f%%", 100 * expected.best().score()), firstPct);
                int barWidth = rows.get(0).findElement(By.className("bar")).getSize().getWidth();
                int fillWidth = rows.get(0).findElement(By.className("fill")).getSize().getWidth();
                assertEquals(expected.best().score(), fillWidth / (double) barWidth, 0.02, "the bar is as long as the score");

                WebElement preview = driver.findElement(By.id("preview"));
                wait.until(d -> Boolean.TRUE.equals(((JavascriptExecutor) d)
                        .executeScript("return arguments[0].complete && arguments[0].naturalWidth > 0", preview)));
                assertTrue(preview.getSize().getWidth() > 100, "the uploaded image is shown");

                File shot = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
                Path kept = Path.of("target", "browser", "predict-page.png");
                Files.createDirectories(kept.getParent());
                Files.copy(shot.toPath(), kept, StandardCopyOption.REPLACE_EXISTING);
                assertTrue(Files.size(kept) > 10_000, "a real screenshot");
            } finally {
                driver.quit();
            }
        }
    }
}
