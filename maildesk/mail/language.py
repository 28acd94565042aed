"""Guess the language of a resident's mail: English, Hindi, Bengali or Marathi.

The decision is made in cheap steps, most reliable first:

1. Script.  Bengali, Devanagari and Latin letters are counted; the script with the most
   letters wins.  Indic letters count double: English words ("phone", "please", addresses)
   creep into every Indic-language mail, while typing Indic script is a deliberate choice.
   Text that is mostly some other script gives ``None``.
2. Bengali script is always "bn" (Assamese shares it, but no station expects Assamese).
3. Devanagari is Hindi or Marathi.  Short complaints defeat n-gram models, so a small list
   of function words and endings that only one of the two languages uses decides first;
   ``langdetect`` (restricted to hi/mr) is consulted only when the markers are silent or
   disagree.
4. Latin script is English unless it is clearly romanised Hindi ("Hinglish"), Bengali or
   Marathi: at least two distinct marker words, which must also outnumber English function
   words, so an English mail that merely mentions "Amar" or "Ami" (common names) stays
   English.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import langdetect
from langdetect.detector_factory import DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

LANGUAGES = ("en", "hi", "bn", "mr")

# Only the start of a long mail is looked at: the language is settled long before 5000
# chars, and quoted history / signatures further down only add noise and time.
_MAX_CHARS = 5000
# langdetect's cost grows with its input; a few hundred chars are plenty for hi vs mr.
_LANGDETECT_MAX_CHARS = 600

_INDIC_WEIGHT = 2
_BENGALI = re.compile(r"[\u0980-\u09ff]")
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
# Letters of any other script (Arabic, Tamil, CJK, ...): \w minus digits, underscore and
# the three scripts counted above.
_OTHER = re.compile(r"[^\W\d_A-Za-z\u00c0-\u024f\u0900-\u09ff]")
_DEV_WORD = re.compile(r"[\u0900-\u097f]+")
_LATIN_WORD = re.compile(r"[a-z]+")

# --- Devanagari: words used by one language and not the other -------------------------
# Marathi: copula आहे/आहेत, negation नाही, "and" आणि, my/our forms, past tense झाले/केली...
_MR_WORDS = frozenset(
    "आहे आहेत आहोत होते होता होती आणि नाही नाहीत माझा माझी माझे माझ्या आमचा आमची आमचे "
    "आमच्या तुमच्या त्यांनी त्यांना झाले झाली झाला केली केले केला करा करावी मध्ये पण "
    "येथे इथे खूप मला आम्ही तुम्ही कोणीतरी गेली गेले गेला घ्या द्या वाचवा पाठवा".split()
)
# Hindi: copula है/हैं, negation नहीं, "and" और, postpositions में/से/को, my/our forms,
# imperatives (बचाओ, भेजो).  Shared words such as कृपया, का, की, पर are in neither list.
_HI_WORDS = frozenset(
    "है हैं था थी थे और नहीं में से को मेरा मेरी मेरे हमारा हमारी हमारे मुझे हमें "
    "गया गई गए किया कीजिए करें करो हुआ हुई रहा रही रहे यहाँ यहां वहाँ भी बचाओ भेजो भेजिए".split()
)
# ळ is everyday Marathi (वेळ, जवळ, सकाळ) and practically absent from Hindi; the genitive
# ending -च्या (घराच्या, पोलिसांच्या) is likewise Marathi-only.
_MR_LETTER = "\u0933"
_MR_ENDING = "\u091a\u094d\u092f\u093e"

# --- Latin script: romanised Hindi / Bengali / Marathi markers ------------------------
# Only words that are not English and not common to two of the languages ("ki", "na",
# "kal", "raat" are used by several and are left out; "nahi" is Hindi and Marathi, so it
# counts for Hindi only and Marathi wins on its other markers).
_HI_LATIN = frozenset(
    "hai hain mera meri mere mein ghar chor chori gaya gayi gaye koi madad karo karein kijiye "
    "bahut nahi nahin kya kyun kuch raha rahi rahe hua hui mujhe hamara hamare hamari abhi "
    "aur lekin bhi tha thi roz hota jaldi yahan wahan chahiye dijiye aayi aaya".split()
)
_BN_LATIN = frozenset(
    "ami amar amader amra amake tumi apni apnar apnara korchi korbo korun kore korte hobe "
    "ache achhe kichu kichhu hoyeche hoyechhe hoye hoyni hoy geche gechhe bari barite barir "
    "jonno theke kintu ekhon ekhono kono keno kothay khub taratari parchi pai asun bujhte "
    "holo legeche".split()
)
# Mumbai residents also write Marathi in Latin letters ("majha phone chori zala aahe").
_MR_LATIN = frozenset(
    "aahe ahe aahet majha majhi majhe majhya mazha mazhi mazhe mazya amcha amchi amche "
    "amchya zala zali zale jhala jhali kela keli kele madhe madhye ani aani amhi tumhi "
    "ithe tithe khup geli gela gele nahit kara koni ghari".split()
)
# Clear English function words; "please" and "sir" are left out on purpose because
# Hinglish and Banglish mails use them constantly.
_EN_WORDS = frozenset(
    "the a an is are was were be been of to in on at for from with by and or but my our "
    "your his her their this that it i we you he she they have has had not there will "
    "would can".split()
)
_MIN_LATIN_MARKERS = 2


def detect_language(text: str) -> str | None:
    """Return one of LANGUAGES, or None when there are no letters / another script."""
    if not isinstance(text, str) or not text:
        return None
    sample = text[:_MAX_CHARS]
    counts = {
        "bn": _INDIC_WEIGHT * len(_BENGALI.findall(sample)),
        "dev": _INDIC_WEIGHT * len(_DEVANAGARI.findall(sample)),
        "latin": len(_LATIN.findall(sample)),
    }
    best = max(counts.values())
    if best == 0 or len(_OTHER.findall(sample)) > best:
        return None
    if counts["bn"] == best:
        return "bn"
    if counts["dev"] == best:
        return _hindi_or_marathi(sample)
    return _latin_language(sample)


def _hindi_or_marathi(sample: str) -> str:
    words = _DEV_WORD.findall(sample)
    mr = sum(1 for w in words if w in _MR_WORDS)
    hi = sum(1 for w in words if w in _HI_WORDS)
    mr += sample.count(_MR_LETTER) + sum(1 for w in words if w.endswith(_MR_ENDING))
    # A clear margin on the markers is more trustworthy than n-grams on a short mail.
    if mr > 2 * hi:
        return "mr"
    if hi > 2 * mr:
        return "hi"
    return _langdetect_hi_mr(" ".join(words))


def _latin_language(sample: str) -> str:
    words = _LATIN_WORD.findall(sample.lower())
    english = sum(1 for w in words if w in _EN_WORDS)
    scores = {}
    for lang, markers in (("hi", _HI_LATIN), ("bn", _BN_LATIN), ("mr", _MR_LATIN)):
        hits = [w for w in words if w in markers]
        if len(set(hits)) >= _MIN_LATIN_MARKERS and len(hits) > english:
            scores[lang] = len(hits)
    if not scores:
        return "en"
    # Several qualify only in odd mixes; the stronger wins, Hindi first on a tie.
    return max(scores, key=lambda lang: scores[lang])


# --- langdetect, restricted to Hindi and Marathi --------------------------------------
@functools.cache
def _hi_mr_factory() -> DetectorFactory | None:
    """A langdetect factory that knows only the hi and mr profiles, built once.

    A private factory keeps the choice binary (the stock one can answer "ne", "sa", ...)
    and leaves the global langdetect state alone; it is seeded so that the same text
    always gets the same answer.
    """
    try:
        profiles = Path(langdetect.__file__).parent / "profiles"
        factory = DetectorFactory()
        factory.load_json_profile([(profiles / n).read_text("utf-8") for n in ("hi", "mr")])
        factory.set_seed(0)
    except (OSError, ValueError, LangDetectException):  # profiles missing or corrupt:
        # the installed package is broken; the Devanagari guess stays Hindi, intake goes on.
        return None
    return factory


def _langdetect_hi_mr(text: str) -> str:
    factory = _hi_mr_factory()
    if factory is None or not text:
        return "hi"
    try:
        detector = factory.create()
        detector.set_max_text_length(_LANGDETECT_MAX_CHARS)
        detector.append(text)
        probs = detector.get_probabilities()
    except Exception:  # LangDetectException ("no features") or anything odd inside it
        return "hi"
    ranked = {p.lang: p.prob for p in probs}
    return "mr" if ranked.get("mr", 0.0) > ranked.get("hi", 0.0) else "hi"
