//! `/dashboards`: the visitor's dashboards and a form to create one;
//! `/dashboards/join/{token}`: joining one through a share link.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::dashboard::api;

#[component]
pub fn DashboardListPage() -> impl IntoView {
    let list = LocalResource::new(api::list);
    let title = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match api::create(title.get_untracked()).await {
                Ok(view) => navigate(&format!("/dashboards/{}", view.id), Default::default()),
                Err(err) => error.set(Some(err.message)),
            }
        });
    };
    view! {
        <section class="connect-intro">
            <h1>"Dashboards"</h1>
            <p class="lead">"Widgets on a grid that several people edit at once, live; changes made offline sync when you are back."</p>
        </section>
        <section class="card" aria-labelledby="new-dashboard">
            <h2 id="new-dashboard">"New dashboard"</h2>
            <form class="row" on:submit=create>
                <label class="grow">"Title"
                    <input data-testid="dashboard-title-input" required maxlength="80" prop:value=title
                        on:input=move |ev| title.set(event_target_value(&ev)) />
                </label>
                <button type="submit" class="button" data-testid="create-dashboard">"Create"</button>
            </form>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
        <section class="card" aria-labelledby="your-dashboards">
            <h2 id="your-dashboards">"Yours"</h2>
            <Suspense fallback=|| view! { <p class="empty">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(rows) if rows.is_empty() => view! {
                            <p class="empty" data-testid="no-dashboards">"No dashboards yet: create one, or open a share link."</p>
                        }.into_any(),
                        Ok(rows) => view! {
                            <ul class="chat-list" data-testid="dashboard-list">
                                {rows.into_iter().map(|row| view! {
                                    <li class="chat-row" data-testid="dashboard-row">
                                        <a class="chat-row-link" href=format!("/dashboards/{}", row.id)>
                                            <span class="chat-row-title">{row.title}</span>
                                            <span class="chat-row-last">{format!("{} widgets · {} members · {}", row.widgets, row.members, row.role.as_str())}</span>
                                        </a>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
pub fn DashboardJoinPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let preview = LocalResource::new(move || api::preview(token()));
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    view! {
        <section class="card">
            <Suspense fallback=|| view! { <p class="empty">"Opening the link…"</p> }>
                {move || {
                    let navigate = navigate.clone();
                    Suspend::new(async move {
                        match preview.await {
                            Ok(preview) => {
                                let join = move |_| {
                                    let navigate = navigate.clone();
                                    leptos::task::spawn_local(async move {
                                        match api::accept(token()).await {
                                            Ok(joined) => navigate(&format!("/dashboards/{}", joined.dashboard_id), Default::default()),
                                            Err(err) => error.set(Some(err.message)),
                                        }
                                    });
                                };
                                view! {
                                    <h1>{preview.title.clone()}</h1>
                                    <p>{format!("You are invited as {}.", preview.role.as_str())}</p>
                                    <button type="button" class="button" data-testid="join-dashboard" on:click=join>"Open the dashboard"</button>
                                }.into_any()
                            }
                            Err(err) => view! {
                                <h1>"This link does not work"</h1>
                                <p class="error" role="alert">{err.message}</p>
                            }.into_any(),
                        }
                    })
                }}
            </Suspense>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}
