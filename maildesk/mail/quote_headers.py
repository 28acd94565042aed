"""The lines mail clients write above a quoted thread and below a typed reply, in the
languages maildesk's officers and residents use.  Only patterns live here; quotes.py decides.

Sources: the clients' own output (Gmail, Outlook 2003-2016/365/iOS/Android, Apple Mail,
Thunderbird, Yahoo, AOL, Zoho, Zimbra/NIC, Rediffmail, Mail.ru, Yandex, BlackBerry, Samsung,
TypeApp, Windows Mail) in English, German, French, Dutch, Italian, Portuguese, Spanish,
Russian, Danish, Norwegian, Finnish, Swedish, Polish, Vietnamese, Japanese, Hindi, Bengali
and Marathi UIs.
"""

from __future__ import annotations

import re

# "wrote" as attributions end ("On <date>, <name> wrote:"), any language.  Gmail puts the
# verb before the name in some ("... kl. 12:33 skrev Name <addr>:"), so it may stand
# anywhere in the attribution; the line still has to end with ":" or "---".
WROTE = re.compile(
    r"(?i)\b(?:wrote|writes|schrieb|schreef|a\s+écrit|écrit|ha\s+scritto|scrisse|escreveu"
    r"|escribió|skrev|kirjoitti|napisał[ao]?|napisała|đã\s+viết|viết|написал[аи]?"
    r"|пишет|написав|schreibt|escribe|scripsit|menulis|yazdı|napsal[ao]?|написала)\b"
    r"|எழுதியது|எழுதினார்|写道|작성"
    r"|のメッセージ|書きました|(?:ने|नें)\s+लिखा|(?:ने|यांनी)\s+लिहिले|লিখে(?:ছেন|ছে)"
)
ATTRIBUTION_END = re.compile(r"(?::|-{2,}|：)\s*$")
# Rediffmail ends its attribution with the verb and no colon ("On Thu, 03 Dec 2026 10:15:22
# +0530 Behala PS wrote"); quotes.py takes it only with a blank line or a quote below.
WROTE_END = re.compile(rf"(?:{WROTE.pattern[4:]})\s*$", re.IGNORECASE)
# "wrote:" followed by the quote on the same line, as Yahoo for Android writes it.
WROTE_THEN_QUOTE = re.compile(rf"(?:{WROTE.pattern[4:]})\s*(?:[:：]|-{{2,}})", re.IGNORECASE)

# Something every attribution has: a time ("10:05", "10.05", "१०:०५"), a date with a year,
# or an address.
TIME_OR_ADDRESS = re.compile(r"\d{1,2}[:.]\d{2}|@|\b(?:19|20)\d{2}\b|[०-९০-৯]{4}")

# A line that only separates the typed text from what follows.
SEPARATOR = re.compile(
    r"(?i)^(?:"
    r"_{20,}"  # Outlook web/mobile above its From: block, Mailman above its footer
    r"|-{2,}\s*[^\W\d_][^-]{1,60}?\s*-{2,}:?"  # "-----Original Message-----", "---- X wrote ----"
    r"|(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht"
    r"|début\s+du\s+message\s+réexpédié)\s*:"
    r"|(?:original\s+message|reply\s+message|forwarded\s+message)"
    r")\s*$"
)
# Separators that name no quote ("----- Resident's message -----" is our own mail's): only
# words that say "original", "forwarded", "reply" or "wrote" count when a typed line might
# look the same.
SEPARATOR_WORDS = re.compile(
    r"(?i)original|origine|ursprünglich|oprindelig|opprinnelig|alkuperäinen|ursprungligt"
    r"|oorspronkelijk|originale|mensagem|mensaje|oryginalna|исходное|пересылаем|gốc"
    r"|元のメッセージ|मूल|মূল|আসল|मूळ|forward|weitergeleitet|transféré|inoltrato|reenviado"
    r"|doorgestuurd|videresendt|vidarebefordrat|välitetty|przekazana|reply|wrote|schrieb"
    r"|message|nachricht|meddelelse|melding|viesti|meddelande|bericht|wiadomość|сообщение"
    r"|původní|zpráva|eredeti|üzenet|orijinal|mesaj|원본|메일|原始|邮件|郵件|оригин|оригін"
    r"|съобщение|повідомлення|αρχικό|μήνυμα|asli|pesan|மூல|செய்தி|संदेश|বার্তা|ইমেল"
)

# Header blocks (Outlook, Zimbra/NIC, Rediff, Yahoo, Samsung...): a From line, then the other
# fields.  Outlook's plain text bolds the labels ("*From:*"); French puts a space before
# the colon.
_FROM_LABELS = (
    r"from|von|de|van|da|fra|från|od|от|lähettäjä|mittente|remitente|afzender|expéditeur"
    r"|từ|người gửi|差出人|送信者|发件人|प्रेषक|से|प्रेषक का नाम|থেকে|প্রেরক|कडून|पाठवणारा"
    r"|寄件者|寄件人|보낸\s?사람|kimden|feladó|dari|από|від|מאת|من|odesílatel"
)
_FIELD_LABELS = (
    r"sent|date|to|cc|subject|reply-to|gesendet|datum|an|betreff|envoyé|envoyé le|à|objet"
    r"|verzonden|aan|onderwerp|inviato|data|a|oggetto|enviado|enviada|para|assunto|asunto"
    r"|fecha|отправлено|дата|кому|тема|копия|sendt|til|emne|dato|kopi|lähetetty|vastaanottaja"
    r"|aihe|päivämäärä|skickat|till|ämne|wysłano|do|temat|data wysłania|đã gửi|gửi|đến"
    r"|chủ đề|ngày|送信日時|宛先|件名|日付|भेजा गया|दिनांक|प्रति|विषय|तारीख|পাঠানো হয়েছে"
    r"|প্রেরিত|তারিখ|প্রতি|বিষয়|पाठवले|पाठवलेले|दिनांक|प्रति|विषय"
    # Chinese, Korean, Turkish, Hungarian, Indonesian, Greek, Ukrainian, Czech, Hebrew, Arabic
    r"|发送时间|日期|收件人|抄送|主题|傳送時間|收件者|副本|主旨|보낸\s?날짜|받는\s?사람|참조|제목|날짜"
    r"|gönderildi|gönderilme\s+tarihi|tarih|kime|bilgi|konu|elküldve|dátum|címzett|másolat|tárgy"
    r"|dikirim|tanggal|kepada|subjek|perihal|αποστολή|ημερομηνία|προς|κοιν|θέμα|надіслано|копія"
    r"|odesláno|komu|kopie|předmět|נשלח|אל|נושא|תאריך|أرسل|إلى|الموضوع|التاريخ"
)
FROM_LINE = re.compile(rf"(?i)^\*?(?:{_FROM_LABELS})\s?\*?\s?[:：]\*?(?:\s|$)")
FIELD_LINE = re.compile(rf"(?i)^\*?(?:{_FIELD_LABELS})\s?\*?\s?[:：]\*?(?:\s|$)")

# Product names in client footers written in Hindi, Bengali or Marathi.
_CLIENT_NAMES = (
    r"iPhone|iPad|Android|Samsung|Galaxy|Yahoo|Outlook|Gmail|Mail|Huawei|Xiaomi|Redmi|OnePlus"
    r"|vivo|OPPO|realme|Motorola|Nokia|BlackBerry|Rediff|Zoho|Spark|स्मार्टफ़ोन|स्मार्टफोन|মোবাইল"
)

# Footers clients add under the typed text.  The whole line must be the footer: "Sent from
# my desk, is much easier than my mobile phone." is a sentence and stays.
CLIENT_FOOTER = re.compile(
    r"(?i)^(?:"
    r"sent\s+(?:from|on)\s+my\s+[\w'’&.+®™-]+(?:\s+[\w'’&.+®™-]+){0,7}"
    # a webmail service's own line: "This e-mail is sent from NIC eMail service. Please ..."
    r"|this\s+e-?mail\s+(?:is|was|has\s+been)\s+sent\s+(?:from|via|using|through)\s+(?:the\s+)?"
    r"[\w.-]+\s+e-?mail\s+service\b.{0,200}"
    r"|sent\s+(?:from|with|using|via)\s+[\w'’&.+®™-]+(?:\s+[\w'’&.+®™-]+){0,4}"
    r"|get\s+outlook\s+for\s+(?:android|ios)"
    r"|(?:envoyé|envoye)\s+(?:à\s+partir\s+de|depuis|de)\s+(?:mon\s+)?[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|obtenir\s+outlook\s+pour\s+(?:ios|android)"
    r"|(?:gesendet|von)\s+(?:von|mit|meinem|mit\s+meinem)\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|von\s+meinem\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,4}\s+gesendet"
    r"|verzonden\s+(?:vanaf|met|van)\s+(?:mijn\s+)?[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|inviato\s+da\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|enviad[oa]\s+(?:desde|do|de|a\s+partir\s+do)\s+(?:mi|meu|o\s+meu)?\s*[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|отправлено\s+(?:с|из)\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|(?:sendt|skickat|skickad)\s+(?:fra|från)\s+(?:min|mi|mitt)?\s*[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|lähetetty\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,4}"
    r"|wysłane\s+z\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|được\s+gửi\s+từ\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,6}"
    r"|\S{1,20}から送信"
    rf"|sent\s+(?:from|via|with)\s+the\s+(?=[^.]{{0,40}}(?:{_CLIENT_NAMES}))[\w'’&.+®™-]+"
    r"(?:,?\s+[\w'’&.+®™-]+){0,10}"  # "Sent via the Samsung Galaxy S8, an AT&T 4G LTE smartphone"
    r"|(?:发自我的|来自我的|來自我的)\s?\S{1,30}|(?:从|從)我的\s?\S{1,30}\s?(?:发送|傳送|寄出)"
    r"|\S{1,30}에서\s+보냄|[\w'’.-]{1,30}(?:dan|den|tan|ten)\s+gönderildi"
    r"|(?:odesláno|odoslané)\s+z\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,5}"
    r"|dikirim\s+dari\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,5}|gửi\s+từ\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,5}"
    r"|αποστολή\s+από\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,5}|надіслано\s+з\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,5}"
    # Hindi, Bengali and Marathi UIs name the client in Latin letters: "Android पर Yahoo Mail से
    # भेजा गया", "আমার Samsung Galaxy স্মার্টফোন থেকে পাঠানো হয়েছে।", "माझ्या iPhone वरून पाठवले".
    rf"|(?=.{{0,60}}(?:{_CLIENT_NAMES})).{{1,60}}?\s?(?:से\s+भेजा\s+गया(?:\s+है)?"
    r"|থেকে\s+(?:পাঠানো|প্রেরিত)(?:\s+হয়েছে)?|(?:वरून|मधून|द्वारे)\s+पाठवले(?:ले)?(?:\s+आहे)?)[।.]?"
    r")[.!]?\s*(?:<[^>\s]{1,300}>)?(?:\s+[\w'’.-]+(?:\s+[\w'’.-]+){0,4})?[.!]?$"
)
# "Sent with/using/via X" is a footer when X starts with a product's name, capitalised ("Spark",
# "Proton Mail secure email", "iPhone").  "Sent from X" may name a place, so X must read as
# a product's name all through: capitalised words and the few lower-case words product names
# take ("Yahoo Mail on Android", "Mail for Windows 10"); "Sent from home after duty." and "Sent
# from Sakherbazar bus stop itself" are sentences.  "Sent from my ..." and "Sent via the
# <client> ..." have rules of their own.
SENT_VIA = re.compile(r"(?i)^sent\s+(from|with|using|via)\s+(?!my\s|the\s)(.{1,120}?)[.!]?$")
_PRODUCT_WORD = r"(?:[A-Z0-9]|[a-z][A-Z])[\w'’&.+®™-]*"
PRODUCT_START = re.compile(rf"^{_PRODUCT_WORD}(?:\s|$)")
PRODUCT_NAME = re.compile(
    rf"^{_PRODUCT_WORD}(?:\s+(?:{_PRODUCT_WORD}|for|on|mobile|app|phone|tablet|smartphone"
    r"|device|mail|email))*$"
)

# A footer in the words of a Hindi, Bengali or Marathi UI that names the client and its
# platform in Latin letters ("Android के लिए Outlook प्राप्त करें", "iOS এর জন্য Outlook পান"):
# two product names and, besides them, only words of another script.
_NAME = rf"(?:{_CLIENT_NAMES}|iOS)"
LOCAL_FOOTER = re.compile(
    rf"^(?=.{{0,80}}$)(?=.*{_NAME}.*\s{_NAME}(?:\s|$))"
    rf"(?:{_NAME}|[^\x00-\x7f\s]+)(?:\s+(?:{_NAME}|[^\x00-\x7f\s]+))*[।.]?$"
)

# The part of a client footer around its link: "Sent from Mail<https://...> for Windows".
# "Sent with [Proton Mail](https://...)" and "Get Outlook for Android (https://...)" too.
FOOTER_LINK = re.compile(
    r"<(?:https?|mailto):[^>\s]{1,400}>|\(\s?(?:https?|mailto):[^)\s]{1,400}\s?\)"
    r"|\[([^\]\n]{1,60})\]\((?:https?|mailto):[^)\s]{1,400}\)"
)

# Mailing-list and group footers: everything from here down is the list's.
LIST_FOOTER = re.compile(
    r"(?i)^(?:you\s+received\s+this\s+message\s+because\s+you\s+are\s+subscribed"
    r"|to\s+unsubscribe\s+from\s+this\s+group"
    r"|[\w.-]+\s+mailing\s+list$"
    r"|this\s+list\s+is\s+(?:maintained|moderated)\b"
    r"|(?:-=){5,}-?$|groups\.io\s+links:)"  # Groups.io
)

# Legal and "think before you print" notices a mail server or an office signature appends:
# everything from here down is boilerplate, never typed.
DISCLAIMER = re.compile(
    r"(?i)^\W{0,3}(?:disclaimer|confidentiality\s+notice|confidentiality|legal\s+notice"
    r"|important\s+notice|notice|अस्वीकरण|दावा\s+त्याग|দাবিত্যাগ)\s?\W{0,3}\s?[:-]"
    r"|^\W{0,3}(?:this|the\s+information\s+(?:contained\s+)?in\s+this)\s+(?:e-?mail|message"
    r"|communication)\b.{0,80}\b(?:confidential|privileged|intended\s+(?:only|solely))"
    r"|^\W{0,3}please\s+(?:consider\s+the\s+environment|don'?t\s+print|do\s+not\s+print)"
    r"|^\W{0,3}(?:save\s+paper|think\s+before\s+you\s+print)"
)

# A line of one repeated mark that frames a government or office notice ("*****...", "=====").
FRAME = re.compile(r"^([*=#~])\1{9,}$")

# Sign-offs standing alone on a line, English and the languages above.
SIGN_OFF = re.compile(
    r"(?i)^(?:(?:many\s+)?thanks|thank\s+you|thanks?\s*(?:and|&|n)\s*(?:best\s+)?regards"
    r"|(?:best|kind|warm|with|with\s+best|with\s+kind|warmest|kindest)\s+regards|regards|best"
    r"|yours\s+(?:faithfully|sincerely|truly)|sincerely|cheers"
    r"|mit\s+freundlichen\s+grüßen|mit\s+freundlichen\s+grüssen|viele\s+grüße|beste\s+grüße"
    r"|liebe\s+grüße|(?:bien\s+)?cordialement|salutations|bien\s+à\s+vous"
    r"|met\s+vriendelijke\s+groet(?:en)?|groeten|cordiali\s+saluti|saluti|distinti\s+saluti"
    r"|atenciosamente|abraços|cumprimentos|saludos(?:\s+cordiales)?|un\s+saludo|atentamente"
    r"|с\s+уважением|спасибо|med\s+venlig\s+hilsen|venlig\s+hilsen|vennlig\s+hilsen"
    r"|med\s+vennlig\s+hilsen|ystävällisin\s+terveisin|terveisin|med\s+vänlig\s+hälsning"
    r"|vänliga\s+hälsningar|hälsningar|pozdrawiam|z\s+poważaniem|trân\s+trọng|よろしくお願いします"
    r"|salam|hormat\s+saya|saygılarımla|nandri|நன்றி"
    # More of the same, as residents and officers sign off in their own language.
    r"|rgds|br|thx|best\s+wishes|many\s+thanks|thanks\s+a\s+lot|thank\s+you\s+(?:sir|madam)"
    r"|yours|respectfully|yours\s+respectfully"
    r"|(?:viele|liebe|beste|herzliche)\s+grüß?s?e|(?:mit\s+)?(?:besten|herzlichen)\s+grüß?s?en|gruß"
    r"|grüße|mfg|lg|vg|danke(?:\s+schön)?|vielen\s+dank"
    r"|merci(?:\s+beaucoup)?|bien\s+cordialement|cordialement\s+vôtre|bonne\s+journée"
    r"|met\s+(?:vriendelijke|hartelijke)\s+groet(?:en)?|groetjes|mvg|bedankt|dank\s+je(?:\s+wel)?"
    r"|grazie(?:\s+mille)?|cordialmente|un\s+saluto|saluti\s+cordiali|distinti\s+saluti"
    r"|att|atte|abs|obrigad[oa]|muito\s+obrigad[oa]|grat[oa]|um\s+abraço"
    r"|(?:muchas\s+)?gracias|saludos\s+cordiales|un\s+cordial\s+saludo|cordialmente"
    r"|с\s+уважением(?:,\s*\S+)?|благодарю|спасибо\s+большое|всего\s+доброго"
    r"|med\s+venlig(?:e)?\s+hilsen(?:er)?|mvh|vh|hilsen|mange\s+tak|takk|tusen\s+takk"
    r"|med\s+vänlig(?:a)?\s+hälsning(?:ar)?|vänlig(?:a)?\s+hälsning(?:ar)?|tack|tack\s+så\s+mycket"
    r"|kiitos|ystävällisin\s+terveisin|parhain\s+terveisin|terv\.?"
    r"|dziękuję|dziekuje|pozdrawiam(?:\s+serdecznie)?|z\s+wyrazami\s+szacunku"
    r"|teşekkürler|teşekkür\s+ederim|iyi\s+çalışmalar|cảm\s+ơn|xin\s+cảm\s+ơn"
    r"|terima\s+kasih(?:\s+banyak)?|salam\s+hormat|hormat\s+kami|wassalam"
    r"|ありがとうございます|よろしくお願いいたします|宜しくお願いします"
    r"|धन्यवाद(?:\s+सहित)?|शुक्रिया|सधन्यवाद|सादर|भवदीय|आभार(?:\s+सहित)?|आपका|आपकी|आपला(?:\s+विश्वासू)?"
    r"|कळावे|आपली(?:\s+विश्वासू)?|आपले|ধন্যবাদ(?:ান্তে)?|শুভেচ্ছান্তে|শুভেচ্ছা\s+সহ|বিনীত|ইতি|নমস্কার)"
    r"[\s,.!।-]*$"
)

# An officer's rank in a signature block ("S.I. Kaushik Banerjee", "SI Behala PS", "उप
# निरीक्षक, लेक टाउन थाना", "पो.उ.नि. सचिन जाधव", "এস.আই., বেহালা থানা").
RANK = re.compile(
    r"(?i)(?:^|(?<=[\s,(]))(?:"
    r"a?\.?\s?s\.\s?i\.|a?si|s\.?i|sub[-\s]?inspector|inspector|o/?c|i/?c|constable"
    r"|head\s+constable|h\.?c|[ad]cp"
    r"|(?:सहायक\s+)?उप\s?निरीक्षक|निरीक्षक|पो\.\s?उप?\.\s?नि\.?|स\.\s?पो\.\s?नि\.?|हवलदार"
    r"|सिपाही|कांस्टेबल|एस\.?\s?आई\.?"
    r"|এস\.?\s?আই\.?|সাব[-\s]?ইন্সপেক্টর|ইন্সপেক্টর|কনস্টেবল"
    r")(?=$|[\s,.)])"
)

# A short "-Name" sign-off as the last line ("-Ravi", "- SI Das").
# (Indic vowel signs and viramas are no \w: a name in Devanagari or Bengali needs its block)
_NAME_CHARS = r"[\w.'\u0900-\u0963\u0966-\u0dff]"
DASH_NAME = re.compile(rf"^[-–—~]\s?[^\W\d_]{_NAME_CHARS}{{0,20}}"
                       rf"(?:\s[^\W\d_]{_NAME_CHARS}{{0,20}}){{0,2}}$")

# A greeting standing alone above a bottom-posted reply ("Hi,", "Dear Sir,", "नमस्ते"): the
# answers are below the quote.
GREETING = re.compile(
    r"(?i)^(?:hi|hello|hey|dear|respected|sir|madam|good\s+(?:morning|afternoon|evening)"
    r"|hallo|guten\s+tag|bonjour|salut|hola|buenos\s+días|buenas\s+tardes|ciao|buongiorno"
    r"|olá|oi|bom\s+dia|boa\s+tarde|hej|hei|moi|dag|goedemiddag|goedemorgen|cześć"
    r"|dzień\s+dobry|здравствуйте|привет|добрый\s+день|xin\s+chào|namaste|नमस्ते|नमस्कार"
    r"|महोदय|প্রিয়|নমস্কার|স্যার|महोदया)\b[^.?!:]{0,30}[,!]?$"
)
