use leptos::form::ActionForm;
use leptos::prelude::*;

use super::register::pretty;
use crate::api::{SignOut, whoami};

/// `/me`: who the signed-in visitor is.
#[component]
pub fn MePage() -> impl IntoView {
    let me = Resource::new_blocking(|| (), |_| whoami());
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <Suspense fallback=|| view! { <section class="card"><p class="empty">"Loading…"</p></section> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(user)) => view! {
                        <section class="connect-intro">
                            <h1 data-testid="welcome">"Welcome, " {user.display_name.clone()}</h1>
                            <p class="lead">"Your account is verified with your wallet. This browser is signed in."</p>
                        </section>
                        <section class="card">
                            <h2>"Your account"</h2>
                            <dl class="attributes" data-testid="account">
                                <dt>"Name"</dt><dd>{user.display_name}</dd>
                                <dt>"Email"</dt><dd>{user.email.clone()}</dd>
                                // Each fact once: the verified email is the email above unless the person chose another.
                                {user.attributes.into_iter()
                                    .filter(|(name, value)| !(name == "email" && *value == user.email))
                                    .map(|(name, value)| view! { <dt>{pretty(&name)}</dt><dd>{value}</dd> })
                                    .collect_view()}
                            </dl>
                            <ActionForm action=sign_out attr:class="form">
                                <button class="quiet-button" type="submit" data-testid="sign-out">"Sign out"</button>
                            </ActionForm>
                        </section>
                    }.into_any(),
                    Ok(None) => view! {
                        <section class="card">
                            <h1>"You are not registered yet"</h1>
                            <p>"Register with your identity wallet in under a minute."</p>
                            <a class="button" href="/register/connect" rel="external">"Register with your wallet"</a>
                        </section>
                    }.into_any(),
                    Err(err) => view! { <section class="card alert" role="alert"><p>{err.to_string()}</p></section> }.into_any(),
                }
            })}
        </Suspense>
    }
}
