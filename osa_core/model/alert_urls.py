"""Which alert URLs a configuration may hold: apprise's schemes, known without importing apprise.

apprise loads its plugins (262 schemes) in about half a second, and every ``osa-core`` command reads the
configuration: so the configuration is checked against this list (and a URL's shape), and
apprise itself is imported only where a message is sent. ``tests/core/test_alert_config.py``
compares the list with the installed apprise's, so an upgrade that adds or drops a scheme is
noticed (regenerate the tuple from ``NotificationManager().schemas()``).
"""

from __future__ import annotations

APPRISE_VERSION = "2.3.0"
"""The apprise release the list was taken from."""

# fmt: off
APPRISE_SCHEMES: tuple[str, ...] = (
    "46elks", "acs", "amqp", "amqps", "apprise", "apprises", "aprs", "atalk", "awswhatsapp", "azure",
    "bale", "bark", "barks", "betterstack", "blink1", "bluesky", "brevo", "bsky", "bulksms", "bulkvs",
    "burstsms", "chanify", "clickatell", "clicksend", "cliq", "cm", "d7sms", "dapnet", "dbus", "deltachat",
    "deltachats", "dingtalk", "discord", "dot", "eight00com", "elks", "emby", "embys", "enigma2",
    "enigma2s", "evolution", "evolutions", "exotel", "fcm", "feishu", "firehydrant", "flock", "flowtriq",
    "flowtriqs", "fluxer", "fluxers", "form", "forms", "freemobile", "gchat", "gio", "github", "glib",
    "gnome", "goalert", "goalerts", "gorush", "gorushs", "gotify", "gotifys", "groundmail", "groupme",
    "growl", "guilded", "gupshup", "hassio", "hassios", "httpsms", "humhub", "humhubs", "ifttt", "ilert",
    "incidentio", "infobip", "instagram", "irc", "ircs", "jellyfin", "jellyfins", "jira", "join", "json",
    "jsons", "kakao", "kakaotalk", "kaleyra", "kavenegar", "kde", "klr", "kodi", "kodis", "kook",
    "kudosity", "kumulos", "lametric", "lametrics", "lark", "lauther", "lfg", "line", "macosx",
    "mailersend", "mailgun", "mailto", "mailtos", "mastodon", "mastodons", "matrix", "matrixs", "misskey",
    "misskeys", "mmost", "mmosts", "mobilemessage", "mobilemsg", "mqtt", "mqtts", "msg91", "msgbird",
    "ncloud", "nclouds", "nctalk", "nctalks", "nexmo", "nostr", "notica", "noticas", "notifiarr",
    "notifico", "notificos", "notifyapp", "notifyre", "ntfy", "ntfys", "o365", "octopush", "onebot",
    "onebots", "onesignal", "opsgenie", "opsimate", "opsimates", "pagerduty", "pagertree", "parsep",
    "parseps", "pbul", "pinglet", "pinglets", "pingram", "pjet", "pjets", "plivo", "postmark", "pover",
    "prowl", "psafer", "psafers", "push", "pushdeer", "pushdeers", "pushed", "pushme", "pushplus",
    "pushward", "pushy", "qq", "qt", "reddit", "resend", "revolt", "ringc", "rocket", "rockets", "rsyslog",
    "ryver", "schan", "sendgrid", "sendpulse", "serwersms", "ses", "session", "sessions", "seven", "sfr",
    "signal", "signalgrid", "signals", "signl4", "simplepush", "sinch", "slack", "smpp", "smpps", "smsc",
    "smseagle", "smseagles", "smsmanager", "smsmgr", "smstunnel", "smtp2go", "sns", "sogs", "sparkpost",
    "spike", "splunk", "spugpush", "spush", "squadcast", "stackfield", "strmlabs", "synology", "synologys",
    "syslog", "telesign", "telnyx", "tgram", "threema", "toot", "toots", "trigv", "trigvs", "tweet",
    "twilio", "twist", "twitter", "vapid", "viber", "victorops", "voipms", "vonage", "webex", "wechat",
    "wecom", "wecombot", "whapi", "whatsapp", "windows", "workflow", "workflows", "wpush", "wxpusher",
    "wxteams", "x", "xbmc", "xbmcs", "xmatters", "xml", "xmls", "xmpp", "xmpps", "youlmk", "zalo", "zcliq",
    "zohocliq", "zoom", "zulip",
)
# fmt: on
"""Every URL scheme apprise 2.3.0 sends to (``mailto``, ``json``, ``mmost``, ``slack``, ...)."""

URL_PATTERN = r"\A(?i:" + "|".join(APPRISE_SCHEMES) + r")://[^\s/?#][^\s]{0,2047}\Z"
"""A known scheme, ``://``, then something (a host, a token, ``user@``) and no white space."""
