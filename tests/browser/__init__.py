"""The browser suite (headless Chromium, the page bundle at Colab's origins)."""
