"""Every word the kiosk says, in Japanese and English, and the error codes mapped to them."""

from __future__ import annotations

Text = dict[str, str]

SCREENS: dict[str, Text] = {
    "welcome": {
        "ja": "マイナンバーカードを置いてください",
        "en": "Place your My Number Card on the reader",
    },
    "menu": {"ja": "発行する証明書を選んでください", "en": "Choose the certificate"},
    "pin": {"ja": "暗証番号（数字4桁）を入力してください", "en": "Enter your 4-digit PIN"},
    "reading": {
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
    "type": {"ja": "証明書の種類を選んでください", "en": "Choose the type of certificate"},
    "copies": {"ja": "部数を選んでください", "en": "Choose the number of copies"},
    "confirm": {"ja": "内容を確認してください", "en": "Check the details"},
    "payment": {"ja": "料金をお支払いください", "en": "Please pay"},
    "printing": {"ja": "印刷しています", "en": "Printing"},
    "done": {
        "ja": "証明書をお取りください。お忘れ物のないようご注意ください",
        "en": "Please take your certificate. Do not leave anything behind",
    },
    "locked": {
        "ja": "暗証番号がロックされています。お住まいの市区町村の窓口で手続きしてください",
        "en": "Your PIN is locked. Please go to your municipal office to reset it",
    },
    "cancelled": {"ja": "取り消しました", "en": "Cancelled"},
    "error": {"ja": "証明書を発行できませんでした", "en": "The certificate could not be issued"},
}

REMINDER_CARD: Text = {"ja": "カードのお取り忘れにご注意ください", "en": "Do not forget your card"}
REMINDER_CERTIFICATE: Text = {
    "ja": "証明書のお取り忘れにご注意ください",
    "en": "Do not forget your certificate",
}

# machine-readable codes (center, VRS, card, printer) → what the resident reads
ERRORS: dict[str, Text] = {
    "wrong_pin": {
        "ja": "暗証番号が違います。残り{tries}回です",
        "en": "Wrong PIN. {tries} tries left",
    },
    "card_removed": {
        "ja": "カードが取り外されたため取り消しました",
        "en": "The card was removed, so the request was cancelled",
    },
    "card_unreadable": {
        "ja": "カードを読み取れませんでした。置き直してください",
        "en": "The card could not be read. Please place it again",
    },
    "not_mynumber_card": {
        "ja": "マイナンバーカードではありません",
        "en": "This is not a My Number Card",
    },
    "unsupported_characters": {
        "ja": "このカードはここでは使えません。市区町村の窓口にお問い合わせください",
        "en": "This card cannot be used here. Please ask at your municipal office",
    },
    "card_invalid": {
        "ja": "カードの情報を確認できませんでした",
        "en": "The card's data could not be verified",
    },
    "card_replayed": {
        "ja": "カードの確認に失敗しました。もう一度お試しください",
        "en": "The card check failed. Please try again",
    },
    "no_record": {
        "ja": "この市区町村に接種記録がありません",
        "en": "This municipality has no vaccination record for you",
    },
    "no_doses": {
        "ja": "この市区町村に接種記録がありません",
        "en": "This municipality has no vaccination record for you",
    },
    "moved_out": {
        "ja": "転出済みのため発行できません。窓口にお問い合わせください",
        "en": "You moved out of this municipality. Please ask at the municipal office",
    },
    "deceased": {
        "ja": "発行できません。窓口にお問い合わせください",
        "en": "This certificate cannot be issued here. Please ask at the municipal office",
    },
    "passport_missing": {
        "ja": "海外用の証明書には旅券情報の登録が必要です。窓口で申請してください",
        "en": "An overseas certificate needs your passport data. Please apply at the municipal office",
    },
    "municipality_not_offered": {
        "ja": "この市区町村はコンビニ交付を行っていません",
        "en": "This municipality does not issue certificates at convenience stores",
    },
    "service_not_offered": {
        "ja": "この市区町村はコンビニ交付を行っていません",
        "en": "This municipality does not issue certificates at convenience stores",
    },
    "vrs_unavailable": {
        "ja": "ただいま証明書を発行できません。時間をおいてお試しください。料金はかかりません",
        "en": "Certificates cannot be issued right now. Please try again later. You were not charged",
    },
    "center_unavailable": {
        "ja": "ただいまサービスを利用できません。料金はかかりません",
        "en": "The service is not available right now. You were not charged",
    },
    "print_failed": {
        "ja": "印刷できませんでした。料金はかかりません。店員にお知らせください",
        "en": "Printing failed. You were not charged. Please tell the staff",
    },
    "timeout": {
        "ja": "一定時間操作がなかったため取り消しました",
        "en": "Cancelled because there was no input for a while",
    },
    "session_expired": {
        "ja": "時間切れのため取り消しました",
        "en": "Cancelled because the time ran out",
    },
    "payment_cancelled": {
        "ja": "お支払いを取り消しました。料金はかかりません",
        "en": "Payment cancelled. You were not charged",
    },
}
GENERIC: Text = {
    "ja": "エラーが発生しました。料金はかかりません",
    "en": "Something went wrong. You were not charged",
}


def error_text(code: str, **fields: object) -> Text:
    text = ERRORS.get(code, GENERIC)
    return {lang: msg.format(**fields) for lang, msg in text.items()}
