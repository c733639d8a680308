"""The site's sign-off (calls to follow it elsewhere, another service's button) is not the article."""

from __future__ import annotations

import pytest

from indexer.sources.html import read_html_article

URL = "https://www.harbourtimes.co.uk/news/2024/ferry-vote.html"
STORY = [
    "The harbour council voted on Tuesday to keep the night ferry running through the winter months.",
    "Councillors said the crossing carries nurses, bakers and dock workers who start before dawn.",
    "The ferry company had asked for a subsidy of forty thousand pounds to cover the empty sailings.",
    "A final decision on the timetable for the spring will be taken at the council's March meeting.",
]


def page(*closing: str, middle: str = "", after: str = "", canonical: str = "") -> str:
    paragraphs = (
        [f"<p>{text}</p>" for text in STORY[:2]] + ([middle] if middle else []) + [f"<p>{text}</p>" for text in STORY[2:]]
    )
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    return (
        f"<html><head><title>Night ferry stays - Harbour Times</title>{link}</head><body>"
        f"<article><h1>Night ferry stays</h1>{''.join(paragraphs)}{''.join(closing)}{after}</article>"
        "<footer><p>Harbour Times, 1 Quay Street</p></footer></body></html>"
    )


def body(html: str, location: str = URL) -> list[str]:
    return read_html_article(html, location).paragraphs


@pytest.mark.parametrize(
    "closing",
    [
        '<p>Did you know we have a Telegram channel? Join it from your phone <a href="https://t.me/harbourtimes">here</a>.</p>',
        "<p>To stay up to date with everything that happens on the quay, follow us on "
        '<a href="https://twitter.com/HarbourTimes">Twitter</a> and <a href="https://www.facebook.com/harbour.times/">Facebook</a>.</p>',
        "<p>For the latest stories and breaking news updates download the Harbour Times apps for "
        '<a href="https://apps.apple.com/us/app/the-harbour-times/id88795">iOS</a> and '
        '<a href="https://play.google.com/store/apps/details?id=com.harbourtimes.android">Android</a>.</p>',
    ],
)
def test_a_closing_call_to_follow_the_sites_own_channel_is_left_out(closing):
    assert body(page(closing)) == STORY


def test_two_closing_calls_are_left_out_and_the_story_ends_where_it_ends():
    closing = (
        '<p>Follow us on <a href="https://www.instagram.com/harbourtimes/">Instagram</a>.</p>',
        '<p>Join our <a href="https://t.me/harbourtimes">Telegram channel</a>.</p>',
    )
    assert body(page(*closing)) == STORY


def test_a_page_whose_location_is_a_file_names_its_site_by_its_canonical_url(tmp_path):
    closing = '<p>Join our <a href="https://t.me/harbourtimes">Telegram channel</a> for more stories like this one.</p>'
    assert body(page(closing, canonical=URL), location=str(tmp_path / "ferry.html")) == STORY


@pytest.mark.parametrize(
    "closing",
    [
        # Someone else's channel: the story's source.
        '<p>The ferry company announced the new sailings on <a href="https://t.me/quayferries">its Telegram channel</a>.</p>',
        # One post of the site's own account: the story quoting it.
        '<p>We reported the vote <a href="https://twitter.com/HarbourTimes/status/1214239528954712064">on Twitter</a> first.</p>',
        # The site's channel beside another site's page: a paragraph of the story citing both.
        '<p>The minutes are on <a href="https://council.example/minutes">the council\'s site</a>; our reporter posted '
        'the vote on <a href="https://t.me/harbourtimes">our channel</a>.</p>',
    ],
)
def test_a_closing_paragraph_that_links_elsewhere_for_the_story_stays(closing):
    text = read_html_article(page(closing), URL).paragraphs[-1]
    assert text.startswith(("The ferry company announced", "We reported the vote", "The minutes are on"))


def test_a_call_to_follow_the_site_in_the_middle_of_the_article_stays():
    middle = '<p>Our reporters post every council vote live on <a href="https://t.me/harbourtimes">our Telegram channel</a>.</p>'
    paragraphs = body(page(middle=middle))
    assert "Our reporters post every council vote live on our Telegram channel." in paragraphs


def test_the_help_text_of_another_services_button_framed_after_it_is_left_out():
    closing = '<p>With this button you can add the episode to a list on <a href="https://lists.example">lists.example</a>:</p>'
    button = '<p><center><iframe src="https://lists.example/episode/ferry-vote/curatebutton"></iframe></center></p>'
    assert body(page(closing, after=button)) == STORY


def test_a_closing_paragraph_introducing_the_video_it_links_to_stays():
    closing = '<p>Watch the vote on <a href="https://www.youtube.com/watch?v=dQw4w9WgXcQ">YouTube</a>:</p>'
    player = '<div><iframe src="https://www.youtube.com/embed/dQw4w9WgXcQ"></iframe></div>'
    assert body(page(closing, after=player))[-1] == "Watch the vote on YouTube:"


def test_broken_links_in_a_closing_paragraph_are_no_error():
    closing = (
        '<p>The full minutes of the meeting, with the vote of every councillor, are in <a href="http://[::1">our archive</a> '
        'and on <a href="https://t.me:99999/harbourtimes">our channel</a>.</p>'
    )
    assert body(page(closing))[-1].startswith("The full minutes of the meeting")
