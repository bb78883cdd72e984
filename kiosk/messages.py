"""Every word the kiosk says, in Japanese and English, and the error codes mapped to them."""

from __future__ import annotations

Text = dict[str, str]

SCREENS: dict[str, Text] = {
    "welcome": {
        "ja": "マイナンバーカードを読み取り機に置いてください",
        "en": "Place your My Number Card on the reader",
    },
    "menu": {"ja": "発行する証明書を選んでください", "en": "Choose the certificate"},
    "pin": {"ja": "暗証番号（数字4桁）を入力してください", "en": "Enter your 4-digit PIN"},
    "reading": {  # the card's tries left, then the PIN check and the read
        "ja": "カードを読み取っています。カードに触れないでください",
        "en": "Reading your card. Do not touch it",
    },
    "remove_card": {
        "ja": "マイナンバーカードをお取りください",
        "en": "Please take your My Number Card",
    },
    "municipality": {
        "ja": "接種を受けた市区町村を選んでください",
        "en": "Choose the municipality where you were vaccinated",
    },
    "checking": {"ja": "確認しています。しばらくお待ちください", "en": "Checking. Please wait"},
    "type": {"ja": "証明書の種類を選んでください", "en": "Choose the type of certificate"},
    "copies": {"ja": "部数を選んでください", "en": "Choose the number of copies"},
    "confirm": {"ja": "内容を確認してください", "en": "Check the details"},
    "payment": {"ja": "料金をお支払いください", "en": "Please pay"},
    "printing": {"ja": "印刷しています", "en": "Printing"},
    "done": {"ja": "証明書をお取りください", "en": "Please take your certificate"},
    "locked": {
        "ja": "暗証番号がロックされています。お住まいの市区町村の窓口で手続きしてください",
        "en": "Your PIN is locked. Please go to your municipal office to reset it",
    },
    "cancelled": {"ja": "取り消しました", "en": "Cancelled"},
    "error": {"ja": "証明書を発行できませんでした", "en": "The certificate could not be issued"},
    "out_of_service": {
        "ja": "この端末はただいまご利用いただけません",
        "en": "This machine is out of service right now",
    },
}

# the welcome screen's title while a card lies on the reader that no visit uses (the one left
# after OK on an error or a locked PIN): it is not taken as a new visit until placed again
CARD_LEFT: Text = {
    "ja": "カードが読み取り機に置かれたままです。カードをお取りください",
    "en": "A card is still on the reader. Please take it",
}
REMINDER_CARD: Text = {"ja": "カードのお取り忘れにご注意ください", "en": "Do not forget your card"}
REMINDER_CERTIFICATE: Text = {
    "ja": "証明書のお取り忘れにご注意ください",
    "en": "Do not forget your certificate",
}

# machine-readable codes (center, VRS, card, printer, the kiosk itself) → what the resident reads.
# Every code the center, VRS or the card layer can send has its own entry (a test checks it), so a
# resident never reads "something went wrong" for a case someone foresaw.
_NO_RECORD: Text = {
    "ja": "この市区町村に接種記録がありません。接種を受けた市区町村を選んでください",
    "en": "This municipality has no vaccination record for you. Choose where you were vaccinated",
}
_VRS_UNAVAILABLE: Text = {
    "ja": "ただいま証明書を発行できません。時間をおいてお試しください。料金はかかりません",
    "en": "Certificates cannot be issued right now. Please try again later. You were not charged",
}
_NOT_OFFERED: Text = {
    "ja": "この市区町村はコンビニ交付を行っていません",
    "en": "This municipality does not issue certificates at convenience stores",
}
_TERMINAL: Text = {  # the kiosk itself or its link is not set up right: nothing the resident did
    "ja": "この端末ではただいま発行できません。料金はかかりません。店員にお知らせください",
    "en": "This machine cannot issue certificates right now. You were not charged. Please tell the staff",
}
_EXPIRED: Text = {
    "ja": "時間切れのため取り消しました。料金はかかりません。最初からやり直してください",
    "en": "Cancelled because the time ran out. You were not charged. Please start again",
}
_START_AGAIN: Text = {  # the center lost the visit (it restarted): nothing the resident did
    "ja": "手続きを続けられなくなりました。料金はかかりません。お手数ですが最初からやり直してください",
    "en": "The request could not be continued. You were not charged. Please start again",
}
_CARD_UNREADABLE: Text = {
    "ja": "カードを読み取れませんでした。カードを置き直してください",
    "en": "The card could not be read. Please place it again",
}
_CARD_INVALID: Text = {
    "ja": "カードの情報を確認できませんでした。市区町村の窓口にお問い合わせください",
    "en": "The card's data could not be verified. Please ask at your municipal office",
}

ERRORS: dict[str, Text] = {
    # the card and the PIN
    "wrong_pin": {
        "ja": "暗証番号が違います。残り{tries}回です",
        "en": "Wrong PIN. Tries left: {tries}",
    },
    "card_removed": {
        "ja": "カードが取り外されたため取り消しました。料金はかかりません",
        "en": "The card was removed, so the request was cancelled. You were not charged",
    },
    # another program on the kiosk reset the card mid-visit: its PIN status is gone
    "card_reset": {
        "ja": "カードの読み取りが中断されたため取り消しました。料金はかかりません。もう一度カードを置いてください",
        "en": "Reading the card was interrupted, so the request was cancelled. You were not charged. Please place your card again",
    },
    "card_unreadable": _CARD_UNREADABLE,
    "not_mynumber_card": {
        "ja": "マイナンバーカードではありません。マイナンバーカードを置いてください",
        "en": "This is not a My Number Card. Please place your My Number Card",
    },
    "unsupported_characters": {
        "ja": "このカードはここでは使えません。市区町村の窓口にお問い合わせください",
        "en": "This card cannot be used here. Please ask at your municipal office",
    },
    "reader_unavailable": {
        "ja": "カード読み取り機が使えません。料金はかかりません。店員にお知らせください",
        "en": "The card reader is not working. You were not charged. Please tell the staff",
    },
    "out_of_service": {  # no visit under way: nothing to be charged for
        "ja": "カード読み取り機が使えません。店員にお知らせください",
        "en": "The card reader is not working. Please tell the staff",
    },
    # the center's answer about the card
    "card_invalid": _CARD_INVALID,
    # a genuine-looking card whose issuer this service does not know (a real card at a
    # simulator whose center lacks its issuer's key): not the resident's fault, nor fixable here
    "unknown_issuer": {
        "ja": "このカードの発行者を確認できないため、このサービスでは使えません。料金はかかりません",
        "en": "This card's issuer is not known to this service, so the card cannot be used here. You were not charged",
    },
    "card_replayed": {
        "ja": "カードの確認に失敗しました。カードを置き直して、もう一度お試しください",
        "en": "The card check failed. Please place the card again and try once more",
    },
    # VRS's answers (passed on by the center)
    "no_record": _NO_RECORD,
    # on the municipality's ledger, but no dose there: another choice may not help, the office can
    "no_doses": {
        "ja": "この市区町村では、あなたの接種がまだ記録されていません。接種を受けた場合は、この市区町村の窓口にお問い合わせください",
        "en": "No vaccination of yours is recorded in this municipality yet. If you were vaccinated, please ask at its office",
    },
    "moved_out": {
        "ja": "この市区町村から転出されているため発行できません。接種を受けた市区町村の窓口にお問い合わせください",
        "en": "You moved out of this municipality. Please ask at the municipal office",
    },
    "deceased": {
        "ja": "この証明書はここでは発行できません。市区町村の窓口にお問い合わせください",
        "en": "This certificate cannot be issued here. Please ask at the municipal office",
    },
    "passport_missing": {
        "ja": "海外用の証明書には旅券情報の登録が必要です。市区町村の窓口で申請してください",
        "en": "An overseas certificate needs your passport data. Please apply at the municipal office",
    },
    "municipality_not_offered": _NOT_OFFERED,
    "service_not_offered": _NOT_OFFERED,
    "no_such_municipality": _NOT_OFFERED,
    "vrs_unavailable": _VRS_UNAVAILABLE,
    "busy": {
        "ja": "記録システムが混み合っています。しばらくしてからお試しください。料金はかかりません",
        "en": "The record system is busy. Please try again in a moment. You were not charged",
    },
    # VRS's storage failing (disk full): as unavailable, nothing was recorded or charged
    "storage_full": _VRS_UNAVAILABLE,
    "storage_error": _VRS_UNAVAILABLE,
    # a staff-side transfer code; should it ever reach a kiosk, the office can help
    "not_confirmed": {
        "ja": "ここでは発行できません。市区町村の窓口にお問い合わせください",
        "en": "This cannot be issued here. Please ask at the municipal office",
    },
    # the dedicated line and the center
    "center_unavailable": {
        "ja": "ただいまサービスを利用できません。時間をおいてお試しください。料金はかかりません",
        "en": "The service is not available right now. Please try again later. You were not charged",
    },
    "session_expired": _EXPIRED,
    "session_unknown": _START_AGAIN,
    "session_state": _START_AGAIN,
    "session_busy": _START_AGAIN,  # an earlier call of the visit was still at the center
    # a center worker lost its session store, or VRS issued once already for this visit (a
    # worker died before answering): nothing printed, nothing charged, a new visit works
    "session_store_unavailable": _START_AGAIN,
    "session_already_issued": _START_AGAIN,
    "no_client_certificate": _TERMINAL,
    "kiosk_unknown": _TERMINAL,
    "kiosk_disabled": _TERMINAL,
    "kiosk_revoked": _TERMINAL,
    "bad_request": _TERMINAL,
    "not_found": _TERMINAL,
    "method_not_allowed": _TERMINAL,
    "request_too_large": _TERMINAL,
    "unauthenticated": _TERMINAL,
    "forbidden": _TERMINAL,
    "locked_out": _TERMINAL,
    "conflict": _TERMINAL,
    "import_rejected": _TERMINAL,
    # the kiosk
    "print_failed": {
        "ja": "印刷できませんでした。料金はかかりません。店員にお知らせください",
        "en": "Printing failed. You were not charged. Please tell the staff",
    },
    "timeout": {
        "ja": "一定時間操作がなかったため取り消しました。料金はかかりません",
        "en": "Cancelled because there was no input for a while. You were not charged",
    },
    "payment_cancelled": {
        "ja": "お支払いを取り消しました。料金はかかりません",
        "en": "Payment cancelled. You were not charged",
    },
    # a step of the kiosk failed in a way nobody foresaw (a bug, a driver): the visit ends
    "internal_error": {
        "ja": "この端末で問題が発生したため取り消しました。料金はかかりません。店員にお知らせください",
        "en": "This machine ran into a problem, so the request was cancelled. You were not charged. Please tell the staff",
    },
}
GENERIC: Text = {
    "ja": "エラーが発生しました。料金はかかりません。店員にお知らせください",
    "en": "Something went wrong. You were not charged. Please tell the staff",
}

# the card layer's codes → the kiosk's (PIN codes are handled on the PIN screen itself)
CARD_CODES: dict[str, str] = {
    "card_removed": "card_removed",
    "card_reset": "card_reset",
    "not_mynumber_card": "not_mynumber_card",
    "unsupported_characters": "unsupported_characters",
    "no_reader": "reader_unavailable",
    "reader_unavailable": "reader_unavailable",
    "no_card": "card_unreadable",
    "timeout": "card_unreadable",
    "transport": "card_unreadable",
    "bad_response": "card_unreadable",
    "status": "card_unreadable",
    "malformed_data": "card_unreadable",
    "invalid_pin_format": "card_unreadable",
    "pin_required": "card_unreadable",
    "last_try": "card_unreadable",
    "wrong_pin": "wrong_pin",
    "pin_blocked": "card_unreadable",  # a blocked PIN has its own screen (locked)
    "invalid_my_number": "card_invalid",
    "digest_mismatch": "card_invalid",
    "bad_signature": "card_invalid",
    "unknown_issuer": "unknown_issuer",
    "bad_certificate": "card_invalid",
    "bad_presence_signature": "card_replayed",
}


def card_code(code: str) -> str:
    """The kiosk's code for a card-layer error code."""
    return CARD_CODES.get(str(code), "card_unreadable")


def error_text(code: str, **fields: object) -> Text:
    text = ERRORS.get(code, GENERIC)
    return {lang: msg.format(**fields) for lang, msg in text.items()}
