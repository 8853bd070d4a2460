"""The pages of a gallery of several models in Debian's Chromium: the compare pages, the sentence page with every
model side by side, the index and a model's heads page, at 1280 and 375 px: no sideways scroll of the document
(wide tables and the heat map scroll in their own box) and no serious or critical axe-core finding. The sample
of three models (tests/conftest.py: two tiny random masked LMs with other tokenizers, and MiniLM without a
masked-LM head, whose 72 heads make the widest heat map); random weights test the layout, not the numbers."""
import pytest

from bertgallery import model, names
from test_browser import ARTIFACTS, all_images_decoded, audit, open_page  # noqa: F401  (skips without Chromium)


def pages(tiny_bert, tiny_roberta):
    bert, roberta, minilm = model.slugs([str(tiny_bert), str(tiny_roberta), "minilm"])
    return {"index": names.PAGE, "sentence": f"two/{names.PAGE}",
            "compare-word-level": f"{names.COMPARE}/{bert}--{roberta}/{names.PAGE}",
            "compare-attention-only": f"{names.COMPARE}/{bert}--{minilm}/{names.PAGE}",
            "heads": f"{names.HEADS}/{minilm}/{names.PAGE}"}


@pytest.mark.xdist_group("models-sites")  # one worker builds the sites of several models
def test_the_several_model_pages_fit_a_phone(models_sites, tiny_bert, tiny_roberta, browser):
    """The cheap check of the default run: at 375 px no page scrolls sideways (a model named by a folder's long
    path once widened the sentence page by its explorer's model menu)."""
    site = models_sites["three"][0]
    for name, path in pages(tiny_bert, tiny_roberta).items():
        page = open_page(browser, (site / path).as_uri(), 375)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, name
        assert page.errors == [], name


@pytest.mark.slow  # axe-core on ten pages: about 20 s
@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.xdist_group("models-sites")
def test_the_several_model_pages_fit_the_width_and_pass_the_audit(models_sites, tiny_bert, tiny_roberta, browser,
                                                                  width):
    site = models_sites["three"][0]
    ARTIFACTS.mkdir(exist_ok=True)
    for name, path in pages(tiny_bert, tiny_roberta).items():
        page = open_page(browser, (site / path).as_uri(), width)
        assert all_images_decoded(page) == [], name
        page.screenshot(path=str(ARTIFACTS / f"models-{name}-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
        assert page.errors == [], name
        assert audit(page) == [], name
