"""The screenshots of docs/pages.md: the index, a sentence page, the heads page and a head page of a built
gallery, at 1280 and 375 px, in the light and the dark colour scheme, in Debian's Chromium.

    python generate.py --model offline --out /tmp/site
    python docs/screenshots/take.py /tmp/site

Each is the page's first 7,200 px (all of it but the heads page on a phone), in 64 colours, so that all of them stay a
few MB in the repository."""
import argparse
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
PAGES = (("index", "index.html"), ("sentence", "cat/index.html"), ("heads", "heads/index.html"),
         ("head", "heads/layer1-head3.html"))
TALLEST = 7200  # CSS px of a page shown: all of a sentence page, the top of the heads page at 375 px


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="a built gallery's folder")
    site = parser.parse_args().site.resolve()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        for scheme in ("light", "dark"):
            for width in (1280, 375):
                phone = width < 600  # a phone's touch screen: the help text speaks of taps
                page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme,
                                        has_touch=phone, is_mobile=phone)
                for name, path in PAGES:
                    page.goto((site / path).as_uri())
                    page.evaluate("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
                    page.wait_for_function("[...document.images].every(i => i.complete)")
                    height = min(TALLEST, page.evaluate("document.documentElement.scrollHeight"))
                    out = HERE / f"{name}-{width}-{scheme}.png"
                    page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": width, "height": height},
                                    full_page=True)
                    Image.open(out).convert("RGB").quantize(64).save(out, optimize=True)
                page.close()
        browser.close()


if __name__ == "__main__":
    main()
