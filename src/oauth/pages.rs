//! The login, second-factor, consent and error pages: server-rendered HTML that works without
//! JavaScript, one small inline stylesheet, readable on a phone. Every value is HTML-escaped.
//! Answers are never cached and never framed (clickjacking a consent button is the attack).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::domain::oauth::ScopeSet;

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f3f5f8;color:#1d2330;margin:0}\
main{max-width:26rem;margin:2rem auto;background:#fff;border-radius:.75rem;padding:1.5rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}\
h1{font-size:1.1rem;color:#4a5568;margin:0 0 .25rem}h2{font-size:1.4rem;margin:0 0 1rem}\
label{display:block;margin:.75rem 0 .25rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.7rem;font-size:1rem;border:1px solid #b8c0cc;border-radius:.4rem}\
button{font-size:1rem;padding:.7rem 1.2rem;border-radius:.4rem;border:0;margin-top:1rem;cursor:pointer}\
.primary{background:#1f6feb;color:#fff}.secondary{background:#e2e6ec;color:#1d2330}\
.error{background:#fde8e8;color:#8a1c1c;padding:.6rem .8rem;border-radius:.4rem}\
ul{padding-left:1.2rem}li{margin:.3rem 0}code{font-size:.85em;color:#4a5568}.row{display:flex;gap:.75rem;flex-wrap:wrap}";

fn document(hub: &str, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"referrer\" content=\"no-referrer\">\
<title>{title} · {hub}</title><style>{STYLE}</style></head>\
<body><main><h1>{hub}</h1>{body}</main></body></html>\n",
        hub = escape(hub),
        title = escape(title),
    )
}

/// The fields every form carries: the authorization request (checked again on each post) and
/// the CSRF token.
pub struct FormContext<'a> {
    pub hub: &'a str,
    pub client_name: &'a str,
    pub hidden: &'a [(&'static str, String)],
    pub csrf: &'a str,
}

impl FormContext<'_> {
    fn hidden_fields(&self) -> String {
        let mut out = format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            escape(self.csrf)
        );
        for (name, value) in self.hidden {
            out.push_str(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            ));
        }
        out
    }
}

fn error_box(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default()
}

pub fn login(ctx: &FormContext<'_>, username: &str, error: Option<&str>) -> String {
    let body = format!(
        "<h2>Sign in to continue to {client}</h2>{error}\
<form method=\"post\" action=\"/oauth/authorize/login\">{hidden}\
<label for=\"username\">Username</label>\
<input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\
<label for=\"password\">Password</label>\
<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button class=\"primary\" type=\"submit\">Sign in</button></form>",
        client = escape(ctx.client_name),
        error = error_box(error),
        hidden = ctx.hidden_fields(),
        username = escape(username),
    );
    document(ctx.hub, "Sign in", &body)
}

pub fn totp(ctx: &FormContext<'_>, error: Option<&str>) -> String {
    let body = format!(
        "<h2>Enter your authentication code</h2>{error}\
<p>Open your authenticator app and type the 6-digit code for {hub}.</p>\
<form method=\"post\" action=\"/oauth/authorize/totp\">{hidden}\
<label for=\"code\">Code</label>\
<input type=\"text\" id=\"code\" name=\"code\" inputmode=\"numeric\" pattern=\"[0-9]{{6}}\" maxlength=\"6\" autocomplete=\"one-time-code\" required autofocus>\
<button class=\"primary\" type=\"submit\">Verify</button></form>",
        error = error_box(error),
        hub = escape(ctx.hub),
        hidden = ctx.hidden_fields(),
    );
    document(ctx.hub, "Authentication code", &body)
}

pub fn consent(ctx: &FormContext<'_>, username: &str, scopes: &ScopeSet) -> String {
    let items: String = scopes
        .iter()
        .map(|s| {
            format!(
                "<li>{} <code>{}</code></li>",
                escape(s.describe()),
                s.as_str()
            )
        })
        .collect();
    let body = format!(
        "<h2>{client} wants to access {hub} as you</h2>\
<p>Signed in as <strong>{username}</strong>. If you allow it, {client} may:</p><ul>{items}</ul>\
<form method=\"post\" action=\"/oauth/authorize/consent\">{hidden}<div class=\"row\">\
<button class=\"primary\" type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
<button class=\"secondary\" type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
</div></form>",
        client = escape(ctx.client_name),
        hub = escape(ctx.hub),
        username = escape(username),
        hidden = ctx.hidden_fields(),
    );
    document(ctx.hub, "Allow access", &body)
}

pub fn error(hub: &str, title: &str, message: &str) -> String {
    let body = format!(
        "<h2>{}</h2><p class=\"error\" role=\"alert\">{}</p>\
<p>Go back to the application you came from and start again.</p>",
        escape(title),
        escape(message)
    );
    document(hub, title, &body)
}

/// An HTML answer with the headers every page has, and these cookies set.
pub fn respond(status: StatusCode, html: String, cookies: &[String]) -> HttpResponse {
    let mut response = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // No `form-action`: browsers apply it to the redirect after the consent form, whose target
    // is each client's own redirect URI.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_pages_carry_their_fields() {
        assert_eq!(
            escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
        let hidden = [("state", "\"><script>".to_owned())];
        let ctx = FormContext {
            hub: "Hub <One>",
            client_name: "Console",
            hidden: &hidden,
            csrf: "c1",
        };
        let page = login(&ctx, "", Some("wrong"));
        assert!(page.contains("name=\"viewport\""));
        assert!(page.contains("Hub &lt;One&gt;"));
        assert!(page.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(!page.contains("<script>"));
        assert!(page.contains("name=\"csrf\" value=\"c1\""));
        let page = consent(&ctx, "alice", &ScopeSet::parse("tokens:read").unwrap());
        assert!(page.contains("Read the tokens of every party"));
        assert!(page.contains("value=\"deny\""));
        let answer = respond(StatusCode::OK, page, &["a=b".into()]);
        assert_eq!(answer.headers().get("x-frame-options").unwrap(), "DENY");
        assert!(answer
            .headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(answer.headers().get("set-cookie").unwrap(), "a=b");
    }
}
