"""Realistic resident mail for the benchmarks: about 4.7 KB on average, as stations receive it.

English, Hindi, Bengali and mixed prose; 60 % plain text, 25 % text + HTML alternatives,
15 % HTML only; 12 % carry a small JPEG or PDF; headers shaped like Gmail's, Outlook's and
Yahoo's (Received chains, DKIM, ARC, X-headers). Deterministic for a seed, so that maildesk
and the bare loop read the same bytes.
"""

from __future__ import annotations

import base64
import random
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

PROSE = {
    "en": ["Two men on a motorcycle snatched my gold chain near the bus stop at about eight.",
           "The shop owner next door plays loud music every night after midnight.",
           "My neighbour's son has not come back from tuition and his phone is switched off.",
           "Someone has been calling me from an unknown number and threatening my family.",
           "I lost my wallet with my Aadhaar card and driving licence in the market today.",
           "There is a crowd fighting with sticks outside the temple, please send someone.",
           "A car has been parked across our gate for three days and nobody claims it."],
    "hi": ["कल रात हमारे घर में चोरी हो गई और अलमारी से गहने गायब हैं।",
           "पड़ोस में रोज रात को तेज आवाज में गाना बजता है, सोना मुश्किल है।",
           "मेरा बेटा स्कूल से अभी तक घर नहीं आया है, उसका फोन बंद है।",
           "एक आदमी बार बार फोन करके धमकी दे रहा है कि घर जला देगा।",
           "बाजार में मेरा पर्स खो गया जिसमें आधार कार्ड और पैसे थे।"],
    "bn": ["গত রাতে আমাদের বাড়িতে চুরি হয়েছে, আলমারি থেকে গয়না নেই।",
           "পাশের বাড়িতে রোজ রাত বারোটার পরেও মাইক বাজছে।",
           "আমার মেয়ে কোচিং থেকে এখনও ফেরেনি, ফোন বন্ধ।",
           "একজন অচেনা লোক বারবার ফোন করে হুমকি দিচ্ছে।",
           "বাজারে আমার মানিব্যাগ হারিয়ে গেছে, তাতে ভোটার কার্ড ছিল।"],
}
SUBJECTS = {
    "en": ["Chain snatching near bus stop", "Complaint regarding noise", "Missing boy",
           "Threat calls", "Lost documents", "Fight outside temple", "Car blocking gate"],
    "hi": ["घर में चोरी", "शोर की शिकायत", "बेटा लापता", "धमकी भरे फोन", "पर्स खो गया"],
    "bn": ["বাড়িতে চুরি", "মাইকের শব্দ", "মেয়ে ফেরেনি", "হুমকি ফোন", "মানিব্যাগ হারানো"],
}
CLIENTS = [
    ("gmail.com", "Gmail", "mail-sor-f41.google.com"),
    ("outlook.com", "Microsoft Outlook 16.0", "EUR05-VI1-obe.outbound.protection.outlook.com"),
    ("yahoo.co.in", "YahooMailAndroidMobile", "sonic309-21.consmr.mail.ne1.yahoo.com"),
    ("rediffmail.com", "Rediffmail", "rediffmail.com"),
]
SIGNATURES = ["\n\nRegards,\n{name}\n{phone}", "\n\nThank you\n{name}",
              "\n\n-- \n{name}\nSent from my iPhone", "\n\n{name}\nSent from Yahoo Mail on Android"]
NAMES = ["Amit Sharma", "Rina Das", "Sunil Yadav", "Priya Banerjee", "Mohd. Irfan", "Kavita Joshi"]


def _prose(rng: random.Random, language: str, size: int) -> str:
    """Sentences in the language (a third of mixed mails switch to English) up to ``size``."""
    out: list[str] = []
    while sum(len(s) for s in out) < size:
        lang = "en" if language == "mixed" and rng.random() < 0.5 else (
            rng.choice(["hi", "bn"]) if language == "mixed" else language)
        out.append(rng.choice(PROSE[lang]))
        if rng.random() < 0.2:
            out.append("\n\n")
    return " ".join(out)


def _html(text: str) -> str:
    paragraphs = "".join(f"<p style=\"margin:0 0 8px\">{p}</p>" for p in text.split("\n\n"))
    return ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">"
            "<style>p{font-family:Arial,sans-serif;font-size:14px}</style></head>"
            f"<body><div dir=\"ltr\">{paragraphs}</div></body></html>")


def _jpeg(rng: random.Random) -> bytes:
    """A small JPEG-shaped file (SOI, APP0, random scan data, EOI): only its bytes matter."""
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + rng.randbytes(rng.randint(5000, 14000)) + b"\xff\xd9")


def _pdf(rng: random.Random) -> bytes:
    body = b"".join(b"%d 0 obj<</Length 40>>stream\n" % n + rng.randbytes(40) + b"\nendstream\n"
                    for n in range(1, rng.randint(40, 120)))
    return b"%PDF-1.4\n" + body + b"trailer<</Root 1 0 R>>\n%%EOF\n"


def _headers(rng: random.Random, msg: EmailMessage, domain: str, agent: str, relay: str,
             when: datetime) -> None:
    stamp = format_datetime(when)
    for hop in range(rng.randint(2, 4)):
        msg["Received"] = (f"from {relay} (10.{hop}.{rng.randint(0, 255)}.{rng.randint(1, 254)}) "
                           f"by mx{hop}.station-mail.in with ESMTPS id {rng.randbytes(6).hex()} "
                           f"for <station@police.example>; {stamp}")
    msg["DKIM-Signature"] = (f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s2026; "
                             f"t={int(when.timestamp())}; h=from:to:subject:date:message-id; "
                             f"bh={base64.b64encode(rng.randbytes(32)).decode()}; "
                             f"b={base64.b64encode(rng.randbytes(128)).decode()}")
    msg["ARC-Seal"] = f"i=1; a=rsa-sha256; t={int(when.timestamp())}; cv=none; d={domain}"
    msg["X-Mailer"] = agent
    msg["X-Originating-IP"] = f"[49.{rng.randint(0, 255)}.{rng.randint(0, 255)}.7]"


def realistic_mail(n: int, to: str, seed: int = 2026) -> bytes:
    rng = random.Random(seed * 1_000_003 + n)
    language = rng.choices(["en", "hi", "bn", "mixed"], [40, 25, 20, 15])[0]
    domain, agent, relay = rng.choice(CLIENTS)
    name = rng.choice(NAMES)
    when = datetime(2026, 11, 20, tzinfo=timezone(timedelta(hours=5, minutes=30))) + timedelta(
        seconds=n * 7)
    text = _prose(rng, language, rng.randint(200, 1200)) + rng.choice(SIGNATURES).format(
        name=name, phone=f"98{rng.randint(10000000, 99999999)}")
    subject_lang = "en" if language == "mixed" else language
    msg = EmailMessage()
    local = "".join(ch for ch in name.split()[0].lower() if ch.isalpha())
    msg["From"] = f"{name} <{local}.{n}@{domain}>"
    msg["To"] = to
    msg["Subject"] = f"{rng.choice(SUBJECTS[subject_lang])} ({n})"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(f"r{n}", domain=domain)
    _headers(rng, msg, domain, agent, relay, when)
    shape = rng.choices(["plain", "alternative", "html"], [60, 25, 15])[0]
    if shape == "html":
        msg.set_content(_html(text), subtype="html")
    else:
        msg.set_content(text)
        if shape == "alternative":
            msg.add_alternative(_html(text), subtype="html")
    if rng.random() < 0.12:
        if rng.random() < 0.6:
            msg.add_attachment(_jpeg(rng), maintype="image", subtype="jpeg",
                               filename=f"IMG_{20261120 + n}.jpg")
        else:
            msg.add_attachment(_pdf(rng), maintype="application", subtype="pdf",
                               filename="complaint.pdf")
    return msg.as_bytes()


def realistic_mails(count: int, to: str, seed: int = 2026) -> list[bytes]:
    return [realistic_mail(n, to, seed) for n in range(count)]


if __name__ == "__main__":
    sample = realistic_mails(2000, "bhl.ps@police.example")
    sizes = sorted(len(m) for m in sample)
    print(f"{len(sample)} mails, mean {sum(sizes) / len(sizes) / 1024:.1f} KB, "
          f"median {sizes[len(sizes) // 2] / 1024:.1f} KB, max {sizes[-1] / 1024:.0f} KB")
