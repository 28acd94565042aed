"""HTML replies: cut at the mail client's quote container before the HTML becomes text.

Once converted, a quoted thread is plain text without ">" and its attribution may be in any
language; in the HTML each client marks it: Gmail's ``gmail_quote``, Outlook's
``divRplyFwdMsg``/``appendonsend``/bordered header div/``OLK_SRC_BODY_SECTION``, Yahoo's
``yahoo_quoted``, Thunderbird's ``moz-cite-prefix``, Apple Mail's and others'
``<blockquote type="cite">``, Zoho's ``zmail_extra``, Zimbra's ``zwchr``/``__QUOTED_TEXT__``,
ProtonMail's ``protonmail_quote``, BlackBerry's ``_persistentHeader``, AOL's ``AOLMsgPart``.
The container and everything after it are dropped; a signature the client marks
(``gmail_signature``, ``moz-signature``, Outlook on the web's ``Signature``, Outlook
mobile's ``ms-outlook-mobile-signature``) is dropped too.
"""

from __future__ import annotations

import re

import lxml.html
from inscriptis import Inscriptis
from lxml import etree

MAX_HTML_CHARS = 1_000_000
RENDER_AGAIN_CHARS = 200_000

_QUOTE_XPATH = etree.XPath(
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote_container ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' gmail_attr ')"
    " or contains(@class, 'yahoo_quoted') or contains(@id, 'yahoo_quoted')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')"
    " or contains(@class, 'zmail_extra') or contains(@class, 'protonmail_quote')"
    " or contains(@class, 'AppleOriginalContents')"
    " or contains(@class, 'ms-outlook-mobile-reference-message')"
    " or contains(@class, 'OutlookMessageHeader')"
    " or @id = 'divRplyFwdMsg' or @id = 'x_divRplyFwdMsg' or @id = 'appendonsend'"
    " or @id = 'OLK_SRC_BODY_SECTION' or @id = 'mail-editor-reference-message-container'"
    " or @id = 'zwchr' or @data-marker = '__QUOTED_TEXT__' or @data-marker = '__HEADERS__'"
    " or @id = 'isForwardContent' or @id = 'isReplyContent'"
    " or @id = '_persistentHeader' or @id = '_originalContent' or contains(@id, 'AOLMsgPart')"
    " or (local-name() = 'blockquote' and (@type = 'cite' or @class or @id))"
    " or (local-name() = 'div' and contains(translate(@style, ' ', ''), 'border-top:solid')"
    "     and contains(translate(@style, ' ', ''), 'padding:3'))"
    "][1]"
)
# Signatures the client itself marks (Gmail, Thunderbird, Outlook on the web): the sender's
# configured block, never typed in this reply.
_SIGNATURE_XPATH = etree.XPath(
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_signature ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' moz-signature ')"
    " or @id = 'Signature' or @id = 'x_Signature' or @id = 'ms-outlook-mobile-signature']"
)
_HR_BEFORE = re.compile(r"display:\s*inline-block|width:\s*98%", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def typed_html_text(markup: str) -> str | None:
    """Text of the HTML above the client's quote container (all of it when there is none);
    None when lxml cannot read it or when the text parse_mail made of it is to be read."""
    markup = _XML_DECL.sub("", markup[:MAX_HTML_CHARS], count=1)
    try:
        root = lxml.html.document_fromstring(markup)
    except (etree.ParserError, ValueError):
        return None
    for signature in _SIGNATURE_XPATH(root):
        _remove_keeping_tail(signature)
    found = _QUOTE_XPATH(root)
    if not found:
        # Rendering costs ~0.7 s a MB; parse_mail already rendered a big one: reuse its text.
        return _text(root) if len(markup) <= RENDER_AGAIN_CHARS else None
    cut = found[0]
    previous = cut.getprevious()
    # Outlook web draws a rule just above divRplyFwdMsg; it belongs to the quote.
    if previous is not None and previous.tag == "hr" and _HR_BEFORE.search(
            previous.get("style", "")):
        cut = previous
    _drop_from(cut)
    return _text(root)


def _remove_keeping_tail(element: etree._Element) -> None:
    parent = element.getparent()
    if parent is None:
        return
    if element.tail:  # text after the element is the parent's, typed
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _drop_from(element: etree._Element) -> None:
    """Remove ``element`` and everything that follows it in document order."""
    node = element
    while node is not None:
        parent = node.getparent()
        if parent is None:
            break
        for later in list(node.itersiblings()):
            parent.remove(later)
        node = parent
    tail_keeper = element.getparent()
    if tail_keeper is not None:
        tail_keeper.remove(element)


def _text(root: etree._Element) -> str:
    try:
        # Rendered from lxml's tree: inscriptis on the raw markup indents nested <div>s.
        return Inscriptis(root).get_text()
    except Exception:  # inscriptis on odd markup: fall back to lxml's own text
        return root.text_content()
