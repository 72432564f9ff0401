"""What people and the model read of a note: its words and numbers, without markup or link noise."""

from __future__ import annotations

from pathlib import Path

from kbagent import Hit
from kbagent.knowledgebase import snippet
from kbagent.plaintext import plain_line, plain_text
from kbagent.reading import page_units
from kbagent.tools import Search

PAGES = Path(__file__).parent / "fixtures" / "display"


class OnePage:
    """A searcher that finds one page, whatever is asked."""

    def __init__(self, hit: Hit) -> None:
        self.hit = hit

    def search(self, query: str, k: int) -> list[Hit]:
        return [self.hit]


def read(name: str) -> list[str]:
    return plain_text((PAGES / name).read_text(encoding="utf-8")).splitlines()


def test_a_logseq_page_loses_its_properties_hiccup_and_heading_marks() -> None:
    assert read("logseq-Photo wall.md") == [
        "tags: photography, home",
        "Hanging the photo wall",
        "Measure twice: the wall is 240 cm wide, frames 30 × 40 cm.",
        "Hooks from IKEA, 6 pieces, see Shopping list",
        "写真の並べ方",
        "大きい写真を中央に、小さい写真を周りに。",
    ]


def test_an_obsidian_callout_keeps_its_title_and_text_not_its_marks() -> None:
    assert read("obsidian-Banana bread.md") == [
        "tags: recipe",
        "Banana bread",
        "Oven",
        "Bake at 175 °C for 55–60 minutes.",
        "Do not peek",
        "Don't open the oven in the first 30 minutes.",
        "Ingredients",
        "3 ripe bananas",
        "250 g flour",
        "1 tsp baking soda",
        "buy walnuts",
    ]


def test_scrapbox_brackets_become_their_text_and_links_their_titles() -> None:
    assert read("scrapbox-京都旅行の計画.txt") == [
        "京都旅行の計画",
        "日程",
        "4/3(木) 東京駅 8:00 発の新幹線で京都へ",
        "雨なら嵐山はやめる",
        "予算",
        "新幹線: 往復 1 人 28,000 円 × 2 人",
        "乗換案内",  # the link's title; its long URL and the Gyazo image are gone
        "takker",
    ]


def test_a_readwise_highlight_loses_view_tweet_and_the_cover_image() -> None:
    lines = read("readwise-Tweets From quietgardener.md")
    assert "Digital gardens are less about the tools and more about tending ideas in public." in lines
    assert "「小さく書いて、つなげる」が一番続く。" in lines
    assert "A note a day: 365 small notes beat 12 essays." in lines
    assert not any("View" in line or "rw-book-cover" in line or "status/" in line for line in lines)


def test_words_numbers_and_code_stay_as_they_are() -> None:
    assert plain_line("snake_case_name, 3*4*5 = 60 and a[0]") == "snake_case_name, 3*4*5 = 60 and a[0]"
    assert plain_line("1. Run `kb index ~/notes`") == "1. Run kb index ~/notes"
    assert plain_line("See https://example.org/a") == "See https://example.org/a"  # a short URL is readable
    assert plain_line("Docs: https://docs.example.org/guide/install/linux/ubuntu-22-04.html") == (
        "Docs: docs.example.org"
    )


def test_snippets_and_the_search_result_the_model_reads_are_plain() -> None:
    text = (PAGES / "logseq-Photo wall.md").read_text(encoding="utf-8")
    assert snippet(text, "IKEA hooks").startswith("tags: photography, home Hanging the photo wall")
    assert "**" not in snippet(text, "wall") and "[:div" not in snippet(text, "wall")
    page = Hit("wall#0", "wall", "notes", "Photo wall", "", text, 0.5)
    result = Search(OnePage(page)).run("photo wall").text
    assert "Measure twice: the wall is 240 cm wide" in result
    assert not any(mark in result for mark in ("**", "::", "[:", "{:", "####", "cdn.logseq.com"))
    assert "Hooks from IKEA, 6 pieces, see Shopping list" in page_units(text)
