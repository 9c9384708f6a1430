use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{Register, load_registration_draft};

/// `/register?session=<id>`: the registration form, prefilled from the
/// verified attributes of the visitor's session.
#[component]
pub fn RegisterPage() -> impl IntoView {
    let query = use_query_map();
    let session_id = move || query.with(|q| q.get("session").unwrap_or_default());
    let draft = Resource::new_blocking(session_id, load_registration_draft);
    let register = ServerAction::<Register>::new();

    view! {
        <section class="connect-intro">
            <h1>"Almost there"</h1>
            <p class="lead">"These details come from your verified credential. Choose how we address you and where we write to you."</p>
        </section>
        <Suspense fallback=|| view! { <section class="card"><p class="empty">"Loading your verified details…"</p></section> }>
            {move || Suspend::new(async move {
                match draft.await {
                    Err(err) => view! {
                        <section class="card alert" role="alert">
                            <h2>"This registration cannot continue"</h2>
                            <p>{err.to_string()}</p>
                            <a class="button" href="/register/connect" rel="external">"Start again"</a>
                        </section>
                    }.into_any(),
                    Ok(draft) => {
                        let email = draft.attributes.iter().find(|(k, _)| k == "email").map(|(_, v)| v.clone()).unwrap_or_default();
                        view! {
                            <section class="card register-card">
                                <h2>"Verified details"</h2>
                                <dl class="attributes" data-testid="verified-attributes">
                                    {draft.attributes.into_iter().map(|(name, value)| view! {
                                        <dt>{pretty(&name)}</dt><dd>{value}</dd>
                                    }).collect_view()}
                                </dl>
                                <ActionForm action=register attr:class="form">
                                    <input type="hidden" name="session_id" value=draft.session_id.clone() />
                                    <label for="display_name">"Your name"</label>
                                    <input id="display_name" name="display_name" required maxlength="100" autocomplete="name" value=draft.display_name.clone() />
                                    <label for="email">"Email"</label>
                                    <input id="email" name="email" type="email" required autocomplete="email" value=email />
                                    <button class="button" type="submit" disabled=move || register.pending().get()>
                                        {move || if register.pending().get() { "Registering…" } else { "Create my account" }}
                                    </button>
                                    {move || register.value().get().and_then(|r| r.err()).map(|err| view! {
                                        <p class="form-error" role="alert">{err.to_string()}</p>
                                    })}
                                </ActionForm>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// `given_name` -> `Given name`.
pub fn pretty(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}
