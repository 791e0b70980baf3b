"""How long a post is, the way each platform counts it — so a draft over a limit is a policy
problem before approval, never a failed send after it.

- **Bluesky** counts grapheme clusters (a flag, a family emoji or an accented letter is one):
  300 per post — and, as its lexicon also says, at most 3,000 bytes of UTF-8 (300 family
  emoji are 5,400: the reference PDS refuses them).
- **X** counts *weighted* characters (twitter-text 3): most Latin, Greek, Cyrillic, Hebrew and
  Arabic code points and some punctuation weigh 1, everything else (CJK, emoji) 2; an emoji
  sequence counts 2 however many code points it has; every URL counts 23 whatever its length
  (links are shortened to t.co). 280 per post.
- **Mastodon** counts grapheme clusters too, every URL as 23 and a remote mention
  (``@name@instance``) as the ``@name`` part only; 500 unless the instance says more.
- Anything else: code points.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import regex

# URLs as the platforms see them: with a scheme, or a bare www. host.
URL = regex.compile(r"(?:https?://|www\.)[^\s<>\"]+[^\s<>\".,:;!?)\]'’]", regex.IGNORECASE)
REMOTE_MENTION = regex.compile(r"(?<![\w@])(@\w+)@[\w.-]+\w")
GRAPHEME = regex.compile(r"\X")
EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")
# twitter-text's v3 configuration: code point ranges that weigh 100 (others 200), scale 100.
LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
URL_WEIGHT = 23


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters)."""
    return len(GRAPHEME.findall(text))


def x_weighted(text: str) -> int:
    """X's weighted length (twitter-text 3, emoji parsing on)."""
    text = unicodedata.normalize("NFC", text)
    total, at = 0, 0
    for m in URL.finditer(text):
        total += _weigh(text[at : m.start()]) + URL_WEIGHT * 100
        at = m.end()
    total += _weigh(text[at:])
    return (total + 99) // 100


def mastodon(text: str) -> int:
    """Mastodon's count: URLs as 23, remote mentions by their local part, then graphemes."""
    countable = URL.sub("x" * URL_WEIGHT, text)
    countable = REMOTE_MENTION.sub(lambda m: m.group(1), countable)
    return graphemes(countable)


def _weigh(text: str) -> int:
    total = 0
    for g in GRAPHEME.findall(text):
        if EMOJI.search(g):
            total += 200
            continue
        for ch in g:
            cp = ord(ch)
            total += 100 if any(lo <= cp <= hi for lo, hi in LIGHT) else 200
    return total


COUNTERS = {"graphemes": graphemes, "x_weighted": x_weighted, "mastodon": mastodon}
UNITS = {"graphemes": "graphemes", "x_weighted": "weighted characters", "mastodon": "characters"}


@dataclass(frozen=True)
class TextLimit:
    """The longest post a platform takes, and how it counts."""

    most: int
    platform: str
    counter: str = "characters"  # one of COUNTERS, or plain code points
    max_bytes: int = 0  # a cap on the UTF-8 size as well, where the platform has one

    @property
    def unit(self) -> str:
        return UNITS.get(self.counter, "characters")

    def count(self, text: str) -> int:
        fn = COUNTERS.get(self.counter)
        return fn(text) if fn else len(text)

    def problem(self, text: str) -> str | None:
        """Why ``text`` is too long for this platform, or None."""
        if (n := self.count(text)) > self.most:
            return f"{n} {self.unit}; {self.platform} takes {self.most}"
        if self.max_bytes and (size := len(text.encode())) > self.max_bytes:
            return f"{size} bytes; {self.platform} takes {self.max_bytes} bytes"
        return None
