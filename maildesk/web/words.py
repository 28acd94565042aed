"""The resident's status page in the resident's languages (English, Hindi, Bengali, Marathi).

The form is shown in the language the browser asks for (or ``?lang=``); an answer is given in
the language the complaint was written in, so a resident who wrote in Bengali reads Bengali.
A wrong pair is answered in the page's language: the answer must not hint at the complaint's.
"""

from __future__ import annotations

LANGUAGES = ("en", "hi", "bn", "mr")
NAMES = {"en": "English", "hi": "हिन्दी", "bn": "বাংলা", "mr": "मराठी"}

_EN = {
    "title": "Complaint status",
    "heading": "Where is my complaint?",
    "intro": "Give the complaint code from our reply and the mail address you wrote from. "
             "In an emergency call 112.",
    "limited": "Too many look-ups from your connection. Please try again in an hour, "
               "or reply STATUS to our mail.",
    "neutral": "We found no complaint with that code sent from that address. Check both, "
               "or reply STATUS to our mail.",
    "station": "Station", "filed": "Filed", "acknowledged": "Acknowledged", "closed": "Closed",
    "notes": "From the officers", "code": "Complaint code", "address": "Your mail address",
    "look_up": "Look up",
    "status.received": "Received", "status.acknowledged": "Acknowledged",
    "status.in_process": "In process", "status.incomplete_info": "Waiting for your details",
    "status.transferred": "Transferred to another station", "status.closed": "Closed",
    "note.progress": "Update", "note.incomplete": "Details needed", "note.closed": "Closed",
}

_HI = {
    "title": "शिकायत की स्थिति",
    "heading": "मेरी शिकायत कहाँ तक पहुँची?",
    "intro": "हमारे उत्तर में दिया गया शिकायत कोड और वह ईमेल पता लिखें जिससे आपने लिखा था। "
             "आपात स्थिति में 112 पर कॉल करें।",
    "limited": "आपके कनेक्शन से बहुत अधिक बार खोजा गया है। कृपया एक घंटे बाद फिर प्रयास करें, "
               "या हमारे ईमेल के उत्तर में STATUS लिखें।",
    "neutral": "इस कोड और इस पते से भेजी गई कोई शिकायत नहीं मिली। दोनों जाँच लें, "
               "या हमारे ईमेल के उत्तर में STATUS लिखें।",
    "station": "थाना", "filed": "दर्ज", "acknowledged": "पावती भेजी गई", "closed": "बंद",
    "notes": "अधिकारियों की ओर से", "code": "शिकायत कोड", "address": "आपका ईमेल पता",
    "look_up": "खोजें",
    "status.received": "प्राप्त", "status.acknowledged": "पावती भेजी गई",
    "status.in_process": "कार्रवाई जारी", "status.incomplete_info": "आपकी जानकारी की प्रतीक्षा",
    "status.transferred": "दूसरे थाने को भेजी गई", "status.closed": "बंद",
    "note.progress": "अद्यतन", "note.incomplete": "जानकारी चाहिए", "note.closed": "बंद",
}

_BN = {
    "title": "অভিযোগের অবস্থা",
    "heading": "আমার অভিযোগ কোথায়?",
    "intro": "আমাদের উত্তরে দেওয়া অভিযোগ কোড এবং যে ইমেল ঠিকানা থেকে লিখেছিলেন সেটি দিন। "
             "জরুরি অবস্থায় 112-এ ফোন করুন।",
    "limited": "আপনার সংযোগ থেকে অনেক বার খোঁজা হয়েছে। এক ঘণ্টা পরে আবার চেষ্টা করুন, "
               "অথবা আমাদের ইমেলের উত্তরে STATUS লিখুন।",
    "neutral": "এই কোড ও এই ঠিকানা থেকে পাঠানো কোনো অভিযোগ পাওয়া যায়নি। দুটোই দেখে নিন, "
               "অথবা আমাদের ইমেলের উত্তরে STATUS লিখুন।",
    "station": "থানা", "filed": "দায়ের", "acknowledged": "প্রাপ্তিস্বীকার", "closed": "বন্ধ",
    "notes": "আধিকারিকদের কাছ থেকে", "code": "অভিযোগ কোড", "address": "আপনার ইমেল ঠিকানা",
    "look_up": "খুঁজুন",
    "status.received": "পাওয়া গেছে", "status.acknowledged": "প্রাপ্তিস্বীকার পাঠানো হয়েছে",
    "status.in_process": "কাজ চলছে", "status.incomplete_info": "আপনার তথ্যের অপেক্ষায়",
    "status.transferred": "অন্য থানায় পাঠানো হয়েছে", "status.closed": "বন্ধ",
    "note.progress": "হালনাগাদ", "note.incomplete": "তথ্য প্রয়োজন", "note.closed": "বন্ধ",
}

_MR = {
    "title": "तक्रारीची स्थिती",
    "heading": "माझी तक्रार कुठपर्यंत आली?",
    "intro": "आमच्या उत्तरातील तक्रार क्रमांक आणि ज्या ईमेल पत्त्यावरून लिहिले तो पत्ता द्या. "
             "आणीबाणीत 112 वर फोन करा.",
    "limited": "आपल्या जोडणीवरून खूप वेळा शोध घेतला गेला. कृपया एका तासाने पुन्हा प्रयत्न करा, "
               "किंवा आमच्या ईमेलला STATUS असे उत्तर द्या.",
    "neutral": "या क्रमांकाची, या पत्त्यावरून पाठवलेली तक्रार सापडली नाही. दोन्ही तपासा, "
               "किंवा आमच्या ईमेलला STATUS असे उत्तर द्या.",
    "station": "पोलीस ठाणे", "filed": "नोंद", "acknowledged": "पोच दिली", "closed": "बंद",
    "notes": "अधिकाऱ्यांकडून", "code": "तक्रार क्रमांक", "address": "आपला ईमेल पत्ता",
    "look_up": "शोधा",
    "status.received": "मिळाली", "status.acknowledged": "पोच दिली",
    "status.in_process": "कार्यवाही सुरू", "status.incomplete_info": "आपल्या माहितीची प्रतीक्षा",
    "status.transferred": "दुसऱ्या ठाण्याकडे पाठवली", "status.closed": "बंद",
    "note.progress": "अद्यतन", "note.incomplete": "माहिती हवी", "note.closed": "बंद",
}

WORDS: dict[str, dict[str, str]] = {"en": _EN, "hi": _HI, "bn": _BN, "mr": _MR}


def words(language: str | None) -> dict[str, str]:
    return WORDS.get(base_language(language), _EN)


def base_language(language: str | None) -> str:
    """'bn-latn', 'hi-IN' -> 'bn', 'hi'; anything unknown -> 'en'. Romanised Bengali or
    Hindi is read in the script the language is written in by the desk's other answers."""
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in WORDS else "en"


def from_accept_language(header: str) -> str:
    """The best of our languages for an Accept-Language header (RFC 9110 q-values)."""
    best, best_q = "en", -1.0
    for position, item in enumerate(header.split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().lower().split("-")[0]
        # Earlier entries win ties, as browsers list preferences in order.
        if code in WORDS and q > best_q and q > 0:
            best, best_q = code, q - position * 1e-6
    return best
