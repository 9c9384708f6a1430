use leptos::prelude::*;
use leptos_meta::Meta;
use leptos_router::hooks::use_query_map;
use protocol::ChannelName;
use protocol::connect::{ConnectView, SessionStatus, SessionUpdate};

use crate::api::start_connect;
use crate::realtime::use_channel;

/// Where the "new QR code" links go: a fresh invitation, not the open one.
const NEW_QR: &str = "/register/connect?new=1";

/// After this long waiting for the share, say it is taking longer than usual.
const SLOW_SHARE_MS: i64 = 60_000;

/// `/register/connect`: the visitor's QR invitation and the live status of
/// the attempt. Reopening the page shows the same QR; `?new=1` asks for a new one.
#[component]
pub fn ConnectPage() -> impl IntoView {
    let query = use_query_map();
    let fresh = move || query.with(|q| q.get("new").is_some());
    // Blocking: the QR is in the server-rendered HTML, visible before any WASM.
    let session = Resource::new_blocking(fresh, start_connect);
    // Each visit may cost a platform call: not for crawlers and link previews.
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(
            http::HeaderName::from_static("x-robots-tag"),
            http::HeaderValue::from_static("noindex, nofollow"),
        );
    }
    view! {
        <Meta name="robots" content="noindex, nofollow" />
        <section class="connect-intro">
            <h1>"Register with your wallet"</h1>
            <p class="lead">"Scan the code with your identity wallet and share your verified details. No forms to fill in from scratch, no passwords."</p>
        </section>
        <Suspense fallback=|| view! { <section class="card connect-card"><p class="empty">"Preparing your invitation…"</p></section> }>
            {move || Suspend::new(async move {
                match session.await {
                    Ok(view) => view! { <ConnectPanel view /> }.into_any(),
                    Err(err) => view! {
                        <section class="card alert" role="alert">
                            <h2>"We could not create an invitation"</h2>
                            <p>{err.to_string()}</p>
                            <a class="button" href=NEW_QR rel="external nofollow">"Try again"</a>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Milliseconds since the epoch, ticking every second in the browser.
fn clock() -> ReadSignal<i64> {
    let (now, set_now) = signal(now_ms());
    #[cfg(feature = "hydrate")]
    {
        let handle =
            set_interval_with_handle(move || set_now.set(now_ms()), std::time::Duration::from_secs(1));
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = set_now;
    now
}

fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

#[component]
fn ConnectPanel(view: ConnectView) -> impl IntoView {
    let channel = ChannelName::parse(&view.channel).ok();
    let feed = use_channel(Signal::derive(move || channel.clone()));
    let initial = (view.status, view.wallet_label.clone(), None::<i64>);
    // Statuses only move forward, so the page shows the furthest one seen:
    // updates published close together may reach the log in either order.
    // `since` is when the shown status began.
    let state = Memo::new(move |_| {
        feed.events.with(|events| {
            events.iter().fold(initial.clone(), |shown, event| {
                match serde_json::from_value::<SessionUpdate>(event.payload.clone()) {
                    Ok(update) if shown.0.can_become(update.status) => {
                        (update.status, update.wallet_label.or(shown.1), Some(event.ts))
                    }
                    Ok(update) if update.status == shown.0 && update.wallet_label.is_some() => {
                        (shown.0, update.wallet_label, shown.2)
                    }
                    _ => shown,
                }
            })
        })
    });
    let status = Memo::new(move |_| state.get().0);
    let now = clock();
    let expires_at = view.expires_at;

    #[cfg(feature = "hydrate")]
    {
        let navigate = leptos_router::hooks::use_navigate();
        let target = format!("/register?session={}", view.session_id);
        Effect::new(move |_| {
            if status.get() == SessionStatus::Verified {
                navigate(&target, Default::default());
            }
        });
    }

    let remaining = move || (expires_at - now.get()).max(0) / 1000;
    let countdown = move || format!("{}:{:02}", remaining() / 60, remaining() % 60);
    let slow = move || {
        let (status, _, since) = state.get();
        status == SessionStatus::AwaitingShare && since.is_some_and(|t| now.get() - t > SLOW_SHARE_MS)
    };
    let show_qr = move || status.get() == SessionStatus::AwaitingScan;
    let can_renew = move || status.get() == SessionStatus::AwaitingScan && remaining() > 0;
    let invitation_url = view.invitation_url.clone();
    let registration = format!("/register?session={}", view.session_id);

    view! {
        <section class="card connect-card" data-status=move || status.get().as_str() data-session=view.session_id.clone()>
            <div class="connect-grid">
                <div class="qr-column">
                    <div class="qr" class:qr-done=move || !show_qr() inner_html=view.qr_svg.clone() role="img" aria-label="QR code with your invitation"></div>
                    <Show when=show_qr>
                        <p class="qr-meta">
                            <span data-testid="countdown">"Expires in " {countdown}</span>
                        </p>
                    </Show>
                    <a class="link-button" class:hidden=move || !show_qr() href=invitation_url.clone() data-testid="invitation-link" target="_blank" rel="external noopener">
                        "Open in a wallet on this device"
                    </a>
                </div>
                <div class="status-column">
                    <p class="status-line" role="status" aria-live="polite" data-testid="status-text">
                        {move || status_text(&state.get())}
                    </p>
                    <Show when=slow>
                        <p class="hint" data-testid="slow-hint">"This is taking longer than usual. Check your wallet for the request to share."</p>
                    </Show>
                    <ol class="steps">
                        {STEPS.iter().map(|(step, label)| {
                            let step = *step;
                            view! {
                                <li class=move || step_class(status.get(), step) aria-current=move || (status.get() == step).then_some("step")>
                                    <span class="step-dot" aria-hidden="true"></span>
                                    {*label}
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                    <Show when=move || status.get().is_terminal() && status.get() != SessionStatus::Registered>
                        <div class="alert" role="alert">
                            <p>{move || failure_help(status.get())}</p>
                            <a class="button" href=NEW_QR rel="external nofollow" data-testid="new-qr">"Get a new QR code"</a>
                        </div>
                    </Show>
                    <Show when=move || status.get() == SessionStatus::Verified>
                        <a class="button" href=registration.clone()>"Continue to registration"</a>
                    </Show>
                    <Show when=can_renew>
                        <a class="quiet-button" href=NEW_QR rel="external nofollow">"New QR code"</a>
                    </Show>
                </div>
            </div>
        </section>
    }
}

const STEPS: [(SessionStatus, &str); 5] = [
    (SessionStatus::AwaitingScan, "Scan the QR code"),
    (SessionStatus::Connecting, "Approve the connection"),
    (SessionStatus::AwaitingShare, "Share your details"),
    (SessionStatus::Verifying, "Verify the credential"),
    (SessionStatus::Verified, "Complete registration"),
];

fn order(status: SessionStatus) -> usize {
    STEPS.iter().position(|(s, _)| *s == status).unwrap_or(STEPS.len())
}

fn step_class(current: SessionStatus, step: SessionStatus) -> &'static str {
    if current.is_terminal() && current != SessionStatus::Registered {
        return if order(step) == 0 { "step done" } else { "step" };
    }
    match order(step).cmp(&order(current)) {
        std::cmp::Ordering::Less => "step done",
        std::cmp::Ordering::Equal => "step current",
        std::cmp::Ordering::Greater => "step",
    }
}

fn status_text((status, label, _): &(SessionStatus, Option<String>, Option<i64>)) -> String {
    let wallet = label.as_deref().unwrap_or("your wallet");
    match status {
        SessionStatus::AwaitingScan => "Scan the QR code with your identity wallet.".into(),
        SessionStatus::Connecting => {
            format!("Connecting to {wallet}. Approve the connection in your wallet.")
        }
        SessionStatus::AwaitingShare => {
            format!("Connected to {wallet}. Share your details from your wallet.")
        }
        SessionStatus::Verifying => "Checking your credential…".into(),
        SessionStatus::Verified => "Verified. Taking you to registration…".into(),
        SessionStatus::Registered => "You are registered.".into(),
        SessionStatus::Declined => "You declined to share your details.".into(),
        SessionStatus::Failed => "We could not verify that credential.".into(),
        SessionStatus::ConnectionFailed => "The connection with your wallet failed.".into(),
        SessionStatus::Expired => "This attempt has expired.".into(),
    }
}

fn failure_help(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Declined => "Nothing was shared. You can start again whenever you are ready.",
        SessionStatus::Failed => {
            "The credential in your wallet did not pass verification. Make sure it is current, then try again."
        }
        SessionStatus::ConnectionFailed => {
            "Your wallet did not complete the connection. Try again with a new code."
        }
        SessionStatus::Expired => {
            "For your security each code, and each attempt, is valid for a limited time only."
        }
        _ => "",
    }
}
