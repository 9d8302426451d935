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
        super::session::whoami, super::import::import_accounts, super::import::job_status, super::session::list_accounts,
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
    ),
    modifiers(&BearerAuth)
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

pub(super) fn router() -> Router<App> {
    Router::new().merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", ApiDoc::openapi()))
}
