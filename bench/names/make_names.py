"""Regenerate the names evaluation set: articles, the audio that reads or discusses them, and the truth.

    pip install -e '.[samples]'   # Piper and the joe voice; espeak-ng from Debian (apt-get install espeak-ng)
    python bench/names/make_names.py [CASE...]   # every case, or only those named

Writes, next to this script, for each case in CASES: the article (``.txt``, ``.html`` or a feed
``.xml``), its audio (``.mp3``, mono 16 kHz) and ``<case>.truth.json``: every spoken sentence with
its voice, the article paragraph it reads (or null), its start and end in the mp3 (counted in
samples as the audio is assembled), and the queries the benchmark asks with what they should find.
A case may also have an article of its own (``<case>.article.txt``) that spells names its audio
says without embedding the audio: the index-wide name lexicon's case. A ``held_out`` case was
added after the alignment's rules were tuned on the others, and is reported on its own.

Names, numbers and British spellings were chosen because Whisper tiny.en mishears or re-spells
them. Two voices speak: Piper's en_US-joe-medium and espeak-ng (en-gb, en-us).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "samples"))

from make_samples import PEAK, Speaker, Timeline, encode_mp3, trim_silence  # noqa: E402

SAMPLE_RATE = 22050  # Piper joe's and espeak-ng's own rate; the mp3 is 16 kHz
SENTENCE_PAUSE, PARAGRAPH_PAUSE = 0.35, 0.8


@dataclass
class Line:
    voice: str  # "joe", "espeak-gb" or "espeak-us"
    text: str
    paragraph: Optional[int] = None  # the article paragraph this sentence reads, if any (-1: the title)


@dataclass
class Case:
    name: str
    shape: str  # read | partial | podcast | episode-page | feed
    title: str
    paragraphs: list[str]
    lines: list[Line]
    names: list[str]  # each is searched; truth: the sentences that speak it
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (as the article writes it, as said otherwise)
    spellings: list[tuple[str, str]] = field(default_factory=list)  # (British, American)
    unspoken: list[str] = field(default_factory=list)  # words of the article nobody says
    page: str = "txt"  # txt | html | feed
    # (title, paragraphs) of another article, ingested after the case, that does not embed the audio.
    elsewhere: Optional[tuple[str, list[str]]] = None
    held_out: bool = False


def read(voice: str, title: str, paragraphs: list[str]) -> list[Line]:
    """An article read aloud: the title, then each paragraph sentence by sentence."""
    from make_samples import split_sentences

    lines = [Line(voice, title, -1)]
    for p, paragraph in enumerate(paragraphs):
        lines.extend(Line(voice, s, p) for s in split_sentences(paragraph))
    return lines


HARBOUR = (
    "Storm closes Aberystwyth harbour",
    [
        "Storm Ciarán closed the harbour at Aberystwyth on Tuesday, the coastguard said.",
        "Harbourmaster Siobhan Okonkwo said fourteen boats had been moved and that the centre of the town lost power for six hours.",
        "The council's programme of repairs will cost thirty-eight million pounds, according to councillor Gwilym Prydderch.",
        "Fuel tanks holding 2,400 litres of diesel were checked by the fire service, and the sea wall was given a new coat of grey colour.",
    ],
)

CLINIC = (
    "Llandudno clinic gets new paediatric ward",
    [
        "A paediatric ward opened in Llandudno on Monday after a delay of seventeen months.",
        "Doctor Anneliese Kowalczyk, who leads the organisation, said 1,250 children a year would be treated there.",
        "The ward is forty metres long and was painted in a colour chosen by patients.",
        "Health minister Chukwuemeka Nkemelu called it a model for the rest of Wales.",
    ],
)

MINE = (
    "Thorvaldsen Minerals fined over spill in Tromsø",
    [
        "Thorvaldsen Minerals has been fined nineteen million kroner after a spill near Tromsø in March.",
        "The company's chief executive, Ingrid Haugland, said the firm would appeal.",
        "Inspectors found that 3,600 litres of slurry had reached the harbour.",
        "Environmental group Bellona said the fine was far too small for a company of that size.",
    ],
)

BRIDGE = (
    "Bridge repairs in Shrewsbury to take two years",
    [
        "Repairs to the Welsh Bridge in Shrewsbury will take two years and cost twelve million pounds.",
        "Engineer Oluwaseun Bakare said the stone was weaker than records suggested.",
        "Traffic of more than 9,000 cars a day will be sent through the town centre instead.",
        "Local trader Declan Mulrooney said shops in the centre were already struggling.",
    ],
)

BUDGET = (
    "Council of Keighley sets its budget",
    [
        "Keighley town council met on Thursday evening in a packed hall on the high street.",
        "Members spent an hour on the state of the car park before they turned to money.",
        "The council approved a budget of fifty-two million pounds for the coming year.",
        "Treasurer Margarethe Vandersloot said the defence of local services came first.",
        "Twenty-three new posts will be created in the parks department, she said.",
        "The leader of the opposition, Tobias Achterberg, voted against it.",
    ],
)

CASES = [
    Case(
        "harbour_read",
        "read",
        *HARBOUR,
        lines=read("joe", *HARBOUR),
        names=["Aberystwyth", "Okonkwo", "Siobhan", "Prydderch", "Gwilym", "Ciarán"],
        numbers=[("fourteen", "14"), ("thirty-eight million", "38 million"), ("2,400", "two thousand four hundred")],
        spellings=[("harbour", "harbor"), ("centre", "center"), ("programme", "program"), ("litres", "liters"), ("colour", "color")],
    ),
    Case(
        "clinic_read",
        "read",
        *CLINIC,
        lines=read("espeak-gb", *CLINIC),
        names=["Llandudno", "Kowalczyk", "Anneliese", "Nkemelu", "Chukwuemeka"],
        numbers=[("seventeen", "17"), ("1,250", "one thousand two hundred and fifty"), ("forty", "40")],
        spellings=[("paediatric", "pediatric"), ("organisation", "organization"), ("metres", "meters"), ("colour", "color")],
    ),
    Case(
        "mine_podcast",
        "podcast",
        *MINE,
        lines=[
            Line("joe", "Welcome back to the environment desk, where we read the week's stories together."),
            Line("espeak-us", "This week a big fine in the far north of Norway."),
            Line("joe", "Here is how the story begins."),
            Line("espeak-us", MINE[1][0], 0),
            Line("joe", "Nineteen million sounds like a lot, but is it really?"),
            Line("espeak-us", "Not for a firm of that size. Their boss is not happy either."),
            Line("joe", "The article quotes her directly."),
            Line("espeak-us", MINE[1][1], 1),
            Line("joe", "And the inspectors were quite specific about the damage."),
            Line("espeak-us", MINE[1][2], 2),
            Line("joe", "That is a lot of slurry. We will follow the appeal."),
        ],
        names=["Thorvaldsen", "Tromsø", "Haugland", "Ingrid"],
        numbers=[("nineteen million", "19 million"), ("3,600", "three thousand six hundred")],
        spellings=[("litres", "liters"), ("harbour", "harbor")],
        # The article names them; nobody says them.
        unspoken=["Bellona"],
        page="html",
    ),
    Case(
        "bridge_read",
        "read",
        *BRIDGE,
        lines=read("espeak-us", *BRIDGE),
        names=["Shrewsbury", "Oluwaseun", "Bakare", "Declan", "Mulrooney"],
        numbers=[("twelve million", "12 million"), ("9,000", "nine thousand")],
        spellings=[("centre", "center")],
    ),
    Case(
        "budget_partial",
        "partial",
        *BUDGET,
        # A bulletin reads only the second half of the article, after its own introduction.
        lines=[Line("joe", "Now the news from the county, read by our duty editor.")]
        + [Line("joe", text, p) for p, text in enumerate(BUDGET[1]) if p >= 2],
        names=["Vandersloot", "Margarethe", "Achterberg", "Tobias"],
        numbers=[("fifty-two million", "52 million"), ("twenty-three", "23")],
        spellings=[("defence", "defense")],
        unspoken=["Keighley"],
    ),
    Case(
        "episode_page",
        "episode-page",
        "Episode 12: a harvest in the hills",
        ["Our guest this week grows apples on a hillside farm."],
        lines=[
            Line("joe", "Hello and welcome to episode twelve of Growing Seasons."),
            Line("espeak-gb", "Thanks for having me. I'm Ngozi Adeyemi, and I farm near Tewkesbury."),
            Line("joe", "How many trees do you have now?"),
            Line("espeak-gb", "About eleven hundred, and we lost forty to the frost last spring."),
            Line("joe", "Ngozi, what would you tell someone starting out?"),
            Line("espeak-gb", "Plant fewer trees than you think, and look after the soil first."),
        ],
        names=["Ngozi", "Adeyemi", "Tewkesbury"],
        numbers=[("twelve", "12")],
        page="html",
    ),
    Case(
        "feed_item",
        "feed",
        "Ferry service to Stornoway restored",
        [
            "The ferry to Stornoway sailed again on Friday after a fortnight of repairs.",
            "Captain Eilidh MacLeod said two hundred and sixty passengers were on board.",
        ],
        lines=[
            Line("espeak-gb", "Ferry service to Stornoway restored.", -1),
            Line("espeak-gb", "The ferry to Stornoway sailed again on Friday after a fortnight of repairs.", 0),
            Line("espeak-gb", "Captain Eilidh MacLeod said two hundred and sixty passengers were on board.", 1),
            Line("espeak-gb", "The operator thanked travellers for their patience.", None),
        ],
        names=["Stornoway", "Eilidh", "MacLeod"],
        numbers=[("two hundred and sixty", "260")],
        page="feed",
    ),
    Case(
        "guest_interview",
        "interview",
        "The Long Table, episode 31: bread",
        ["This week: a baker from the Welsh Marches."],
        # The guest is named by the host; only a news story elsewhere in the index spells the name.
        lines=[
            Line("joe", "This is The Long Table, the programme about food and the people who make it."),
            Line("joe", "My guest today runs a bakery in Ludlow. Welcome, Radomir Wieczorek."),
            Line("espeak-us", "Thank you. Most people call me Radek, and Wieczorek is hard to say."),
            Line("joe", "How many loaves do you bake on a Saturday?"),
            Line("espeak-us", "About twenty-four hundred, and our neighbours queue from six."),
            Line("joe", "Radomir Wieczorek, thank you for coming in."),
        ],
        names=["Wieczorek", "Radomir", "Ludlow"],
        numbers=[("twenty-four hundred", "2,400")],
        spellings=[("neighbours", "neighbors")],
        unspoken=["Shropshire", "Kasprzak"],
        page="html",
        elsewhere=(
            "Ludlow baker wins national bread award",
            [
                "Radomir Wieczorek, who opened his bakery in Ludlow in 2015, won the national bread award on Sunday.",
                "The judges praised a rye loaf made with flour milled in Shropshire by his partner Agata Kasprzak.",
            ],
        ),
        held_out=True,
    ),
]


def espeak(text: str, voice: str) -> np.ndarray:
    """One sentence from espeak-ng as float32 at SAMPLE_RATE, trimmed to the speech."""
    lang = {"espeak-gb": "en-gb", "espeak-us": "en-us"}[voice]
    try:
        out = subprocess.run(
            ["espeak-ng", "-v", lang, "-s", "150", "--stdout", text], check=True, capture_output=True
        ).stdout
    except FileNotFoundError as e:
        raise RuntimeError("espeak-ng not found: apt-get install espeak-ng") from e
    with wave.open(io.BytesIO(out)) as wav:
        if wav.getframerate() != SAMPLE_RATE:
            raise RuntimeError(f"espeak-ng gave {wav.getframerate()} Hz, expected {SAMPLE_RATE}")
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768
    samples = trim_silence(samples, SAMPLE_RATE)
    return samples / max(1e-6, float(np.abs(samples).max())) * PEAK


def page_text(case: Case, audio_name: str) -> str:
    if case.page == "html":
        body = "\n".join(f"<p>{p}</p>" for p in case.paragraphs)
        return (
            f"<!doctype html><html><head><title>{case.title}</title></head><body><article>"
            f"<h1>{case.title}</h1>{body}<audio controls src=\"{audio_name}\"></audio></article></body></html>\n"
        )
    if case.page == "feed":
        description = "".join(f"<p>{p}</p>" for p in case.paragraphs)
        return (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Island news</title>'
            "<link>https://news.example.org/</link><description>News from the islands</description>"
            f"<item><title>{case.title}</title><guid>{case.name}</guid><link>https://news.example.org/{case.name}</link>"
            f"<description><![CDATA[{description}]]></description>"
            f'<enclosure url="{audio_name}" type="audio/mpeg" length="1"/></item></channel></rss>\n'
        )
    return case.title + "\n\n" + "\n\n".join(case.paragraphs) + "\n"


def build(case: Case, speaker: Speaker) -> dict:
    timeline = Timeline(SAMPLE_RATE)
    timeline.pause(0.5)
    spoken = []
    for k, line in enumerate(case.lines):
        if k:
            same = line.paragraph is not None and line.paragraph == case.lines[k - 1].paragraph
            timeline.pause(SENTENCE_PAUSE if same else PARAGRAPH_PAUSE)
        audio = speaker.say(line.text) if line.voice == "joe" else espeak(line.text, line.voice)
        sentence = timeline.speak(audio, line.text)
        spoken.append(
            {"start": round(sentence.start, 3), "end": round(sentence.end, 3), "text": line.text, "voice": line.voice, "paragraph": line.paragraph}
        )
    timeline.pause(0.5)
    audio_name = f"{case.name}.mp3"
    encode_mp3(timeline.audio(), SAMPLE_RATE, HERE / audio_name, bitrate="32k", out_rate=16000)
    page = HERE / f"{case.name}.{ {'txt': 'txt', 'html': 'html', 'feed': 'xml'}[case.page] }"
    page.write_text(page_text(case, audio_name), encoding="utf-8")
    also = []
    if case.elsewhere:
        title, paragraphs = case.elsewhere
        (HERE / f"{case.name}.article.txt").write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
        also.append(f"{case.name}.article.txt")
    truth = {
        "case": case.name,
        "shape": case.shape,
        "page": page.name,
        "audio": audio_name,
        "title": case.title,
        "paragraphs": case.paragraphs,
        "sentences": spoken,
        "names": case.names,
        "numbers": case.numbers,
        "spellings": case.spellings,
        "unspoken": case.unspoken,
        "also": also,
        "held_out": case.held_out,
    }
    (HERE / f"{case.name}.truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return truth


def main() -> None:
    wanted = set(sys.argv[1:])
    unknown = wanted - {c.name for c in CASES}
    if unknown:
        raise SystemExit(f"no such case: {', '.join(sorted(unknown))}")
    speaker = Speaker()
    for case in CASES:
        if wanted and case.name not in wanted:
            continue
        truth = build(case, speaker)
        print(f"{case.name}: {truth['sentences'][-1]['end']:.1f} s, {len(truth['sentences'])} sentences")


if __name__ == "__main__":
    main()
