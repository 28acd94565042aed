"""Language detection on short and long complaint-style samples (all text invented)."""

from __future__ import annotations

import time

import pytest

from maildesk.mail.language import LANGUAGES, detect_language

EN = [
    "Fire in the building next door, people trapped, please send help now",
    "My bike was stolen from outside Behala station last night.",
    "Help!",
    "Loud music from the pandal till 2 am, please take action.",
    "I want to know the status of my complaint.",
    "My name is Rajesh Sharma and my phone was snatched near Park Street.",
    "Complaint against Ramesh Yadav for harassment",
    "There has been an accident on EM Bypass, send an ambulance.",
    "Mrs. Amrita Ghosh of Lake Town reported her gold chain missing.",
    "My neighbour Amar Das keeps threatening my family.",
    "Ami and Amar Mukherjee have been missing since yesterday.",
    "Someone withdrew money from my bank account without permission.",
    "Thank you, the issue has been resolved.",
    "STATUS BHL-2611-0001",
    "Re: [BHL-2611-0001] Theft at Diamond Harbour Road",
    "Water logging in our lane, elderly people stuck in their homes.",
    "Sir, kindly register my FIR regarding cheating by Sunil Gupta of Andheri.",
    "The shopkeeper Mohan Lal abused me in front of everyone.",
    "Please help, my father Shyam Sundar Agarwal collapsed on the road.",
    "Cyber fraud: I received a call from someone claiming to be from SBI.",
    "Dear Sir/Madam, I am writing to report a case of domestic violence in flat 4B.",
    "Drunk men are creating a nuisance outside the wine shop every night.",
    "Lost my wallet in the local train near Dadar.",
    "Mere words cannot describe how scared we are.",
    "Our housing society in Ghatkopar has no security guard and thefts are increasing.",
    "Kolkata Police, please check the CCTV at Gariahat crossing.",
    "Hi, this is Priya Banerjee from Salt Lake, my car was hit and run.",
    "Noise complaint: DJ playing at Ganesh mandal after midnight.",
    "A man named Kishore Bhai is selling fake tickets at the station.",
    "Missing child: Ravi, age 7, last seen near Howrah bridge wearing a red shirt.",
    "My name is राजेश शर्मा and my scooter was stolen from the parking lot yesterday evening.",
    "Complaint from রাহুল দাস regarding the noise at night in our building, please act.",
    "Dear Sir,\n\nI, Sanjay Kumar Mehta, resident of 12/3 Netaji Nagar, wish to report that "
    "my house was burgled on the night of 14 November while my family was away in Patna. "
    "The lock of the main door was broken and gold ornaments, a laptop and about Rs 40,000 "
    "in cash are missing. Our neighbour Mr. Abhishek Chatterjee saw two men with a bag "
    "leaving at around 3 am. I request you to register an FIR and investigate.\n\n"
    "Thanking you,\nSanjay Kumar Mehta\nMobile: 98300 00000",
]

HI = [
    "मेरे घर में चोरी हो गई है, कृपया मदद करें।",
    "मेरा मोबाइल बस में चोरी हो गया।",
    "पड़ोसी रात भर तेज आवाज में गाना बजाते हैं।",
    "मदद कीजिए, आग लगी है!",
    "मेरी बहन को कॉलेज के बाहर परेशान किया जाता है।",
    "मैं अपनी शिकायत की स्थिति जानना चाहता हूँ।",
    "सड़क पर दुर्घटना हुई है, एम्बुलेंस भेजिए।",
    "मेरा बटुआ लोकल ट्रेन में खो गया।",
    "उन्होंने मुझे जान से मारने की धमकी दी।",
    "हमारी सोसाइटी में अनजान लोग घूम रहे हैं।",
    "कल रात हमारे मोहल्ले में झगड़ा हुआ।",
    "मेरे बैंक खाते से बिना अनुमति पैसे निकाले गए।",
    "मेरी माँ की सोने की चेन छीन ली गई।",
    "शराब पीकर कुछ लोग सड़क पर हंगामा कर रहे हैं।",
    "मेरा भाई कल से घर नहीं आया है।",
    "कृपया जल्द से जल्द कार्रवाई करें।",
    "धन्यवाद, मेरी समस्या हल हो गई।",
    "बाइक चोरी हो गई है",
    "यहाँ पानी भर गया है और लोग फँसे हुए हैं।",
    "दुकानदार ने मुझसे गाली-गलौज की।",
    "मेरी गाड़ी का शीशा तोड़ दिया गया।",
    "थाने में मेरी रिपोर्ट नहीं लिखी गई।",
    "मेरा phone चोरी हो गया, please help",
    "बचाओ",
    "लड़का खो गया",
    "आग लगी है",
    "सेवा में,\nथाना प्रभारी महोदय,\n\nनिवेदन है कि मैं रमेश प्रसाद गुप्ता, मकान नंबर 45, "
    "गांधी नगर का निवासी हूँ। दिनांक 12 नवंबर की रात को मेरे घर का ताला तोड़कर अज्ञात "
    "चोरों ने अलमारी से गहने और नकद रुपये चुरा लिए। सुबह जब हम उठे तो दरवाजा खुला था। "
    "पड़ोसियों ने रात में दो लोगों को भागते हुए देखा था। आपसे अनुरोध है कि मेरी रिपोर्ट "
    "दर्ज करके उचित कार्रवाई करें।\n\nभवदीय,\nरमेश प्रसाद गुप्ता",
    # romanised Hindi
    "mere ghar mein chor ghus gaya hai",
    "koi madad karo",
    "sir mera phone chori ho gaya hai please help karo",
    "bahut shor ho raha hai raat bhar, kuch kijiye",
    "kya meri complaint register hui?",
    "hamare mohalle mein roz jhagda hota hai",
    "mujhe dhamki di ja rahi hai, bahut dar lag raha hai",
    "police abhi tak nahi aayi",
    "meri bike chori ho gayi kal raat",
]

BN = [
    "আমার বাড়িতে চুরি হয়েছে, দয়া করে সাহায্য করুন।",
    "আমার মোবাইল বাসে চুরি হয়ে গেছে।",
    "পাশের বাড়িতে সারা রাত জোরে মাইক বাজছে।",
    "আগুন লেগেছে, তাড়াতাড়ি আসুন!",
    "আমার মেয়েকে স্কুলের সামনে কিছু ছেলে বিরক্ত করে।",
    "আমি আমার অভিযোগের অবস্থা জানতে চাই।",
    "রাস্তায় দুর্ঘটনা ঘটেছে, অ্যাম্বুলেন্স পাঠান।",
    "লোকাল ট্রেনে আমার মানিব্যাগ হারিয়ে গেছে।",
    "ওরা আমাকে প্রাণে মারার হুমকি দিয়েছে।",
    "আমাদের পাড়ায় অচেনা লোক ঘোরাঘুরি করছে।",
    "গতকাল রাতে আমাদের পাড়ায় মারপিট হয়েছে।",
    "আমার ব্যাংক অ্যাকাউন্ট থেকে টাকা তুলে নেওয়া হয়েছে।",
    "আমার মায়ের সোনার চেন ছিনতাই হয়েছে।",
    "মদ খেয়ে কয়েকজন রাস্তায় গোলমাল করছে।",
    "আমার ভাই গতকাল থেকে বাড়ি ফেরেনি।",
    "অনুগ্রহ করে যত তাড়াতাড়ি সম্ভব ব্যবস্থা নিন।",
    "ধন্যবাদ, আমার সমস্যার সমাধান হয়েছে।",
    "সাইকেল চুরি",
    "এখানে জল জমে গেছে আর লোকজন আটকে আছে।",
    "দোকানদার আমাকে গালিগালাজ করেছে।",
    "বেহালা থানা",
    "আমার phone চুরি হয়েছে, please help করুন",
    "মাননীয় ভারপ্রাপ্ত আধিকারিক,\nবেহালা থানা।\n\nবিনীত নিবেদন এই যে, আমি সুদীপ্ত "
    "সেনগুপ্ত, ১৪/২ ডায়মন্ড হারবার রোডের বাসিন্দা। গত ১৫ নভেম্বর রাতে আমাদের ফ্ল্যাটের "
    "তালা ভেঙে অজ্ঞাত পরিচয় দুষ্কৃতীরা আলমারি থেকে সোনার গয়না ও নগদ টাকা চুরি করে নিয়ে "
    "গেছে। পাশের ফ্ল্যাটের বাসিন্দারা রাত দুটো নাগাদ দুজন লোককে পালাতে দেখেছেন। "
    "অনুগ্রহ করে অভিযোগটি গ্রহণ করে উপযুক্ত ব্যবস্থা নেবেন।\n\nধন্যবাদান্তে,\nসুদীপ্ত সেনগুপ্ত",
    # romanised Bengali
    "amar bari te churi hoyeche",
    "ami khub bhoy peyechi, kichu korun",
    "amader parai roj raat e jhogra hoy",
    "sir amar phone ta chhintai hoye geche, ki korbo bujhte parchi na",
    "apnara taratari asun, aagun legeche",
    "amar complaint er ki holo? ekhono kichu hoyni",
    "pasher barir loudspeaker er jonno ghumote parchi na",
    "ami ei niye tin bar mail korchi, kono uttor pai ni",
    "ki hobe ekhon? police ache kothay?",
    "amar cycle churi hoye geche station theke",
]

MR = [
    "माझ्या घराजवळ रात्रभर मोठ्या आवाजात लाऊडस्पीकर वाजत आहे.",
    "आमच्या इमारतीत चोरी झाली आहे, कृपया लवकर या.",
    "माझा मोबाईल बसमध्ये चोरीला गेला.",
    "मदत करा, आग लागली आहे!",
    "माझी गाडी कोणीतरी घेऊन गेले.",
    "शेजारी रोज रात्री भांडण करतात आणि शिवीगाळ करतात.",
    "पोलीस स्टेशनला तक्रार द्यायची आहे.",
    "माझ्या मुलीला शाळेजवळ त्रास दिला जातो.",
    "आम्ही तीन दिवसांपासून वाट पाहत आहोत, अजून काही कारवाई झाली नाही.",
    "गणपती मंडळाचा डीजे रात्री बारा नंतरही चालू आहे.",
    "कृपया माझी तक्रार नोंदवून घ्या.",
    "रस्त्यावर एक अपघात झाला आहे, रुग्णवाहिका पाठवा.",
    "माझे पाकीट लोकलमध्ये हरवले.",
    "त्यांनी मला धमकी दिली.",
    "आमच्या सोसायटीत अनोळखी माणसे फिरत आहेत.",
    "मला माझ्या तक्रारीची स्थिती कळवा.",
    "घरफोडी झाली, दागिने आणि रोख रक्कम गेली.",
    "दारू पिऊन काही लोक रस्त्यावर गोंधळ घालत आहेत.",
    "माझ्या आईची सोन्याची साखळी हिसकावून नेली.",
    "ऑनलाइन फसवणूक झाली आहे, बँक खात्यातून पैसे गेले.",
    "मी दादर पोलीस ठाण्याच्या हद्दीत राहतो.",
    "इथे पाणी भरले आहे आणि लोक अडकले आहेत.",
    "माझा भाऊ कालपासून घरी आला नाही.",
    "लाऊडस्पीकरमुळे वृद्ध लोकांना झोप येत नाही.",
    "तुम्ही लवकरात लवकर कारवाई करावी ही विनंती.",
    "माझी सायकल इमारतीखालून चोरीला गेली.",
    "आमच्या गल्लीत रोज संध्याकाळी टवाळखोर मुले मुलींची छेड काढतात.",
    "धन्यवाद, माझी समस्या सुटली.",
    "चोरी झाली",
    "बाईक चोरीला गेली आहे",
    "कोणीतरी माझ्या खात्यातून पैसे काढले.",
    "माझा phone चोरीला गेला, please help करा",
    "मदत करा",
    "वाचवा",
    "आग लागली",
    # romanised Marathi
    "majha mobile chori zala aahe",
    "amchya building madhe chori zali, lavkar ya",
    "sir majhi bike kal ratri chorila geli",
    "khup awaaz aahe, ratri zop yet nahi",
    "amhi tumhala kalavto ki ithe bhandan chalu aahe",
    "majhya aai la tras dila jaat aahe",
    "police ajun aale nahit, kahi tari kara",
    "ghari koni nahi ani darwaja tutla aahe",
    "प्रति,\nवरिष्ठ पोलीस निरीक्षक,\nदादर पोलीस ठाणे.\n\nविषय: ध्वनिप्रदूषणाबाबत तक्रार\n\n"
    "महोदय,\nमी सुनीता पाटील, शिवाजी पार्क येथे राहते. आमच्या सोसायटीसमोरील मैदानात गेले "
    "आठवडाभर रात्री उशिरापर्यंत मोठ्या आवाजात लाऊडस्पीकर लावले जातात. त्यामुळे लहान "
    "मुलांचा अभ्यास होत नाही आणि ज्येष्ठ नागरिकांना झोप येत नाही. कृपया याबाबत योग्य ती "
    "कारवाई करावी ही नम्र विनंती.\n\nआपली विश्वासू,\nसुनीता पाटील",
]

CASES = (
    [("en", t) for t in EN]
    + [("hi", t) for t in HI]
    + [("bn", t) for t in BN]
    + [("mr", t) for t in MR]
)


def test_tables_are_big_enough() -> None:
    for lang in LANGUAGES:
        assert sum(1 for want, _ in CASES if want == lang) >= 30


CASE_IDS = [f"{want}-{i}" for i, (want, _) in enumerate(CASES)]


@pytest.mark.parametrize(("want", "text"), CASES, ids=CASE_IDS)
def test_detect(want: str, text: str) -> None:
    assert detect_language(text) == want


@pytest.mark.parametrize("text", ["", "   \n\t", "12345 67-89", "!!! ??? ...", "\x00\x01", "😀🙏"])
def test_no_letters_gives_none(text: str) -> None:
    assert detect_language(text) is None


def test_other_scripts_give_none() -> None:
    assert detect_language("شکایت درج کرانی ہے، میرا فون چوری ہو گیا") is None  # Urdu
    assert detect_language("என் வீட்டில் திருட்டு நடந்தது") is None  # Tamil


def test_deterministic_and_result_in_languages() -> None:
    text = "पुलिस स्टेशन"  # no markers either way: decided by langdetect
    first = detect_language(text)
    assert first in LANGUAGES
    assert all(detect_language(text) == first for _ in range(5))


def test_long_text_only_looks_at_the_start() -> None:
    # Marathi for the first ~6000 chars, then a huge English tail that must be ignored.
    text = "आमच्या इमारतीत चोरी झाली आहे. " * 200 + "the and of is " * 100_000
    start = time.perf_counter()
    assert detect_language(text) == "mr"
    assert time.perf_counter() - start < 0.5


def test_fast_on_typical_mails() -> None:
    samples = [EN[-1], HI[23], BN[22], MR[-1], "koi madad karo", "पुलिस स्टेशन"]
    for s in samples:  # warm up (langdetect profiles load once)
        detect_language(s)
    runs = 50
    start = time.perf_counter()
    for _ in range(runs):
        for s in samples:
            detect_language(s)
    per_call = (time.perf_counter() - start) / (runs * len(samples))
    # Budget is 1 ms per mail; allow headroom for a slow CI machine.
    assert per_call < 0.005


def test_non_str_input_gives_none() -> None:
    assert detect_language(None) is None  # type: ignore[arg-type]
    assert detect_language(b"bytes") is None  # type: ignore[arg-type]
