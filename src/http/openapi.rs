//! The OpenAPI document (`/api/v1/openapi.json`), generated from the handlers' annotations, and
//! its human page (`/api/docs`, Swagger UI served from the binary: it works offline).

use axum::Router;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use crate::App;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Huddle API", description = "Self-hosted meetings with breakout rooms. See docs/api.md for the model and the event stream."),
    paths(
        super::session::setup_status, super::session::setup, super::session::create_account, super::session::login, super::session::logout,
        super::session::whoami, super::account_import::import_accounts, super::account_import::job_status, super::session::list_accounts,
        super::session::reset_password,
        super::rooms::list_rooms, super::rooms::create_room, super::rooms::get_room, super::rooms::rename_room,
        super::rooms::delete_room, super::rooms::list_members, super::rooms::add_member, super::rooms::change_role,
        super::rooms::remove_member, super::rooms::list_messages, super::rooms::post_message,
        super::events::events, super::ops::healthz, super::ops::metrics,
        super::breakout::session, super::breakout::configure, super::breakout::create_rooms,
        super::breakout::rename_room, super::breakout::delete_room, super::breakout::delete_all_rooms,
        super::breakout::assign, super::breakout::unassign, super::breakout::reset, super::breakout::start,
        super::breakout::stop, super::breakout::move_person, super::breakout::broadcast, super::breakout::join,
        super::breakout::leave, super::breakout::ask_help, super::breakout::answer_help,
        super::content::list, super::content::add, super::content::download, super::content::delete,
        super::content::promote, super::content::share,
        super::invitations::invite, super::invitations::list, super::invitations::revoke, super::invitations::resend,
        super::invitations::preview, super::invitations::accept,
        super::meetings::list, super::meetings::schedule, super::meetings::ics, super::meetings::cancel,
        super::roster::template, super::roster::export, super::roster::import,
        super::plans::list, super::plans::create, super::plans::import_csv, super::plans::one,
        super::plans::update, super::plans::remove, super::plans::export_csv, super::plans::load,
        super::plans::rotate, super::plans::start_schedule, super::plans::stop_schedule,
        super::report::report, super::report::report_csv,
        super::activities::set, super::activities::hand_in,
        super::calls::stats, super::recordings::start, super::recordings::stop, super::recordings::list,
    ),
    modifiers(&BearerAuth, &CommonAnswers)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The answers every route can give, added where an annotation leaves them out: `401` where a
/// session is needed, `400` and `404` where the path names something, `400` and `422` for a bad
/// query, `400`, `413`, `415` and `422` where a body is read, and `409` for every change (a
/// command can meet a state it does not fit: a round running, an invitation already used).
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let changes = [
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in changes.into_iter().flatten() {
                operation
                    .responses
                    .responses
                    .entry("409".to_owned())
                    .or_insert_with(|| {
                        error("a conflict with the current state, named by its code").into()
                    });
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let params = operation.parameters.as_deref().unwrap_or_default();
                let query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
                let mut answers = Vec::new();
                if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    answers.push(("401", "not signed in, or the session ended"));
                }
                if path.contains('{') {
                    answers.push(("400", "an id in the path that is not one"));
                    answers.push(("404", "not found, or not yours to see"));
                }
                if query {
                    answers.push(("400", "a query parameter that does not parse"));
                    answers.push(("422", "a query parameter out of range"));
                }
                if operation.request_body.is_some() {
                    answers.push(("400", "a body that is not JSON"));
                    answers.push(("413", "a body over the limit"));
                    answers.push(("415", "a body of the wrong content type"));
                    answers.push(("422", "a body that is not valid, naming the field"));
                }
                for (status, description) in answers {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

/// The docs page's policy: like the app's (no inline script, nothing from elsewhere), but Swagger
/// UI sets inline styles as it draws.
const DOCS_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'; object-src 'none'";

pub(super) fn router() -> Router<App> {
    Router::new()
        .merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", ApiDoc::openapi()))
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(DOCS_POLICY),
            ),
        )
}
