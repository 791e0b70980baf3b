"""Email over SMTP (STARTTLS, SSL or plain on loopback): multipart text and HTML, UTF-8."""

from __future__ import annotations

import html
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from engine.kernel.errors import SendFailed
from engine.kernel.ports import OutboundMessage, Receipt

SECURITY = ("starttls", "ssl", "none")


def build(message: OutboundMessage, *, sender: str, public_url: str = "") -> EmailMessage:
    """The email for ``message``: plain text, an HTML alternative, headers.

    A subscriber's email carries a one-click unsubscribe link (RFC 8058) when the public URL
    of the status page is known.
    """
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = message.address
    msg["Subject"] = message.subject or message.body.splitlines()[0][:120]
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=str(message.delivery_id), domain=_domain(sender))
    token = message.meta.get("unsubscribe_token")
    body = message.body
    if token and public_url:
        unsubscribe = f"{public_url.rstrip('/')}/status/unsubscribe/{token}"
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        body = f"{body}\n\n--\nUnsubscribe: {unsubscribe}"
    msg.set_content(body, charset="utf-8")
    body_html = message.meta.get("html") or (
        "<p>" + html.escape(message.body).replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
    )
    msg.add_alternative(
        f"<!doctype html><html><body>{body_html}</body></html>", subtype="html", charset="utf-8"
    )
    return msg


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip(">") if "@" in address else "crisiscomms.local"


class EmailNotifier:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 20.0,
        cafile: str | None = None,
        public_url: str = "",
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"security must be one of {', '.join(SECURITY)}")
        self.host, self.port, self.sender = host, port, sender
        self.security = security
        self.username = username
        self._password = password
        self.timeout = timeout
        self.cafile = cafile  # a private CA for the SMTP server's certificate
        self.public_url = public_url  # for unsubscribe links

    def __repr__(self) -> str:
        return (
            f"EmailNotifier(host={self.host!r}, port={self.port}, "
            f"security={self.security!r}, password='****')"
        )

    def send(self, message: OutboundMessage) -> Receipt:
        msg = build(message, sender=self.sender, public_url=self.public_url)
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(cafile=self.cafile),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
                if self.username:
                    smtp.login(self.username, self._password or "")
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx ("try again later") is transient; only 5xx refusals are final.
            codes = [code for code, _ in exc.recipients.values()]
            permanent = bool(codes) and all(500 <= c < 600 for c in codes)
            raise SendFailed(
                f"recipient refused: {exc.recipients}",
                permanent=permanent,
                code=str(codes[0]) if codes else "recipient_refused",
            ) from None
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise SendFailed(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}",
                permanent=permanent,
                code=str(exc.smtp_code),
                credentials=isinstance(exc, smtplib.SMTPAuthenticationError),
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendFailed(
                f"SMTP unreachable: {exc}", permanent=False, code="unreachable"
            ) from None
        if refused:
            raise SendFailed(
                f"recipient refused: {refused}", permanent=True, code="recipient_refused"
            )
        return Receipt(provider_id=str(msg["Message-ID"]) or f"<{uuid.uuid4()}>", final=True)
