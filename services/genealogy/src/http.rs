//! The genealogy HTTP API (`/v1/...`, exposed by the gateway under `/api/v1/...`). Domain
//! errors become problem responses here, and only here.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use dzinza_kit::Problem;
use dzinza_kit::identity::{Authenticator, Identity};
use dzinza_kit::problem::FieldError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::kinship::{Step, StepKind};
use crate::model::{
    Citation, Collaborator, Event, FamilyTree, HistoryEntry, MergeStatus, MergeSuggestion, Name,
    Note, Notification, Place, Relationship, Repository, Role, Sex, Source, TreeSettings,
};
use crate::policy::Actor;
use crate::service::{
    AncestorNode, CitationInput, CollaboratorInput, EventInput, Family, FamilyMember, Genealogy,
    GenealogyError, KinshipView, MergeOutcome, NewMergeSuggestion, NewPerson, NewRelationship,
    NoteInput, PageRequest, Paged, PathStep, Pedigree, PersonFilter, PersonPatch, PersonSort,
    PersonSummary, PersonView, PlaceInput, RelationshipPatch, RepositoryInput, SourceInput,
    TreePatch, TreeScope, TreeView, Vital,
};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The service.
    pub service: Genealogy,
    /// Token validation for the `Identity` extractor.
    pub auth: Authenticator,
}

impl FromRef<ApiState> for Authenticator {
    fn from_ref(state: &ApiState) -> Self {
        state.auth.clone()
    }
}

/// The domain error as a problem response.
pub fn problem(e: GenealogyError) -> Problem {
    match e {
        GenealogyError::Validation(errors) => Problem::validation(errors),
        GenealogyError::NotFound(what) => Problem::not_found(format!("No such {what}.")),
        GenealogyError::Forbidden(why) => Problem::forbidden(format!("Not allowed: {why}.")),
        GenealogyError::Conflict(why) => Problem::conflict(format!("{why}.")),
        GenealogyError::Store(e) => Problem::internal(&e),
    }
}

/// JSON body whose rejections become problem responses.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let json: Result<Json<T>, JsonRejection> = Json::from_request(req, state).await;
        Ok(ApiJson(json?.0))
    }
}

/// Query string whose rejections become 422 problems naming the query.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let q: Result<axum::extract::Query<T>, QueryRejection> =
            axum::extract::Query::from_request_parts(parts, state).await;
        q.map(|q| ApiQuery(q.0)).map_err(|e| {
            Problem::validation(vec![FieldError {
                field: "query".into(),
                message: e.body_text(),
            }])
        })
    }
}

fn actor(id: &Identity) -> Actor {
    Actor {
        user_id: id.user_id.clone(),
        email: id.email.clone(),
    }
}

type ApiResult<T> = Result<Json<T>, Problem>;

fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items to skip.
    pub offset: Option<u64>,
    /// Page size (1 to 200, default 50).
    pub limit: Option<u64>,
}

impl PageQuery {
    fn page(&self) -> PageRequest {
        PageRequest::new(self.offset, self.limit)
    }
}

/// Tree listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TreeListQuery {
    /// `mine` (default) or `public`.
    pub scope: Option<TreeScope>,
    /// Items to skip.
    pub offset: Option<u64>,
    /// Page size.
    pub limit: Option<u64>,
}

/// Person listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PersonListQuery {
    /// Name prefix.
    pub name: Option<String>,
    /// Exact surname.
    pub surname: Option<String>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Tag.
    pub tag: Option<String>,
    /// `name` (default), `name_desc` or `updated`.
    pub sort: Option<PersonSort>,
    /// Items to skip.
    pub offset: Option<u64>,
    /// Page size.
    pub limit: Option<u64>,
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Name prefix (required).
    pub name: Option<String>,
    /// Only this tree (default: every tree the caller belongs to).
    pub tree_id: Option<String>,
    /// Items to skip.
    pub offset: Option<u64>,
    /// Page size.
    pub limit: Option<u64>,
}

/// Pedigree depth.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GenerationsQuery {
    /// Generations, 1 to 25 (default 4).
    pub generations: Option<u32>,
}

/// Notification listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Unread only.
    #[serde(default)]
    pub unread: bool,
    /// Items to skip.
    pub offset: Option<u64>,
    /// Page size.
    pub limit: Option<u64>,
}

/// Suggestion listing parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// Only this status.
    pub status: Option<MergeStatus>,
    /// Items to skip.
    pub offset: Option<u64>,
    /// Page size.
    pub limit: Option<u64>,
}

/// Changing a collaborator's role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInput {
    /// The new role.
    pub role: Role,
}

/// Accepting a merge suggestion.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    /// Which person remains (default `person_a`).
    #[serde(default)]
    pub survivor: Option<String>,
}

/// How many notifications were marked.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct MarkedRead {
    /// Notifications that were unread.
    pub marked: u64,
}

// ---- trees

/// Lists the caller's trees, or public ones.
#[utoipa::path(get, path = "/api/v1/family-trees", tag = "genealogy", params(TreeListQuery),
    responses((status = 200, body = Paged<TreeView>), (status = 401, description = "Not signed in")))]
async fn list_trees(
    State(s): State<ApiState>,
    id: Identity,
    ApiQuery(q): ApiQuery<TreeListQuery>,
) -> ApiResult<Paged<TreeView>> {
    let page = PageRequest::new(q.offset, q.limit);
    s.service
        .list_trees(&actor(&id), q.scope.unwrap_or_default(), page)
        .await
        .map(Json)
        .map_err(problem)
}

/// Creates a tree owned by the caller.
#[utoipa::path(post, path = "/api/v1/family-trees", tag = "genealogy", request_body = crate::service::NewTree,
    responses((status = 201, body = TreeView), (status = 422, description = "Invalid field")))]
async fn create_tree(
    State(s): State<ApiState>,
    id: Identity,
    ApiJson(body): ApiJson<crate::service::NewTree>,
) -> Result<Response, Problem> {
    s.service
        .create_tree(&actor(&id), body)
        .await
        .map(created)
        .map_err(problem)
}

/// One tree.
#[utoipa::path(get, path = "/api/v1/family-trees/{id}", tag = "genealogy",
    responses((status = 200, body = TreeView), (status = 404, description = "No such tree, or not visible")))]
async fn get_tree(
    State(s): State<ApiState>,
    id: Identity,
    Path(tree): Path<String>,
) -> ApiResult<TreeView> {
    s.service
        .get_tree(&actor(&id), &tree)
        .await
        .map(Json)
        .map_err(problem)
}

/// Changes a tree (owner and tree admins).
#[utoipa::path(patch, path = "/api/v1/family-trees/{id}", tag = "genealogy", request_body = TreePatch,
    responses((status = 200, body = TreeView), (status = 403, description = "Not a tree admin")))]
async fn update_tree(
    State(s): State<ApiState>,
    id: Identity,
    Path(tree): Path<String>,
    ApiJson(body): ApiJson<TreePatch>,
) -> ApiResult<TreeView> {
    s.service
        .update_tree(&actor(&id), &tree, body)
        .await
        .map(Json)
        .map_err(problem)
}

/// Deletes a tree and what is only in it (owner).
#[utoipa::path(delete, path = "/api/v1/family-trees/{id}", tag = "genealogy",
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not the owner")))]
async fn delete_tree(
    State(s): State<ApiState>,
    id: Identity,
    Path(tree): Path<String>,
) -> Result<StatusCode, Problem> {
    s.service
        .delete_tree(&actor(&id), &tree)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(problem)
}

/// Invites a collaborator by user id or email (owner and tree admins).
#[utoipa::path(post, path = "/api/v1/family-trees/{id}/collaborators", tag = "genealogy",
    request_body = CollaboratorInput, responses((status = 200, body = TreeView)))]
async fn add_collaborator(
    State(s): State<ApiState>,
    id: Identity,
    Path(tree): Path<String>,
    ApiJson(body): ApiJson<CollaboratorInput>,
) -> ApiResult<TreeView> {
    s.service
        .add_collaborator(&actor(&id), &tree, body)
        .await
        .map(Json)
        .map_err(problem)
}

/// Changes a collaborator's role; `member` is a user id or invited email.
#[utoipa::path(patch, path = "/api/v1/family-trees/{id}/collaborators/{member}", tag = "genealogy",
    request_body = RoleInput, responses((status = 200, body = TreeView)))]
async fn set_role(
    State(s): State<ApiState>,
    id: Identity,
    Path((tree, member)): Path<(String, String)>,
    ApiJson(body): ApiJson<RoleInput>,
) -> ApiResult<TreeView> {
    s.service
        .set_collaborator_role(&actor(&id), &tree, &member, body.role)
        .await
        .map(Json)
        .map_err(problem)
}

/// Removes a collaborator.
#[utoipa::path(delete, path = "/api/v1/family-trees/{id}/collaborators/{member}", tag = "genealogy",
    responses((status = 204, description = "Removed")))]
async fn remove_collaborator(
    State(s): State<ApiState>,
    id: Identity,
    Path((tree, member)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    s.service
        .remove_collaborator(&actor(&id), &tree, &member)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(problem)
}

// ---- persons

/// A tree's persons, paged with the total, filtered and sorted.
#[utoipa::path(get, path = "/api/v1/trees/{tree_id}/persons", tag = "genealogy", params(PersonListQuery),
    responses((status = 200, body = Paged<PersonView>)))]
async fn list_persons(
    State(s): State<ApiState>,
    id: Identity,
    Path(tree): Path<String>,
    ApiQuery(q): ApiQuery<PersonListQuery>,
) -> ApiResult<Paged<PersonView>> {
    let page = PageRequest::new(q.offset, q.limit);
    let filter = PersonFilter {
        name: q.name,
        surname: q.surname,
        sex: q.sex,
        tag: q.tag,
        sort: q.sort.unwrap_or_default(),
    };
    s.service
        .list_persons(&actor(&id), &tree, filter, page)
        .await
        .map(Json)
        .map_err(problem)
}

/// Adds a person to a tree (editors).
#[utoipa::path(post, path = "/api/v1/trees/{tree_id}/persons", tag = "genealogy", request_body = NewPerson,
    responses((status = 201, body = PersonView), (status = 422, description = "Invalid field")))]
async fn create_person(
    State(s): State<ApiState>,
    id: Identity,
    Path(tree): Path<String>,
    ApiJson(body): ApiJson<NewPerson>,
) -> Result<Response, Problem> {
    s.service
        .create_person(&actor(&id), &tree, body)
        .await
        .map(created)
        .map_err(problem)
}

/// Searches persons by name prefix.
#[utoipa::path(get, path = "/api/v1/persons/search", tag = "genealogy", params(SearchQuery),
    responses((status = 200, body = Paged<PersonView>)))]
async fn search_persons(
    State(s): State<ApiState>,
    id: Identity,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Paged<PersonView>> {
    let page = PageRequest::new(q.offset, q.limit);
    s.service
        .search_persons(
            &actor(&id),
            q.name.as_deref().unwrap_or_default(),
            q.tree_id.as_deref(),
            page,
        )
        .await
        .map(Json)
        .map_err(problem)
}

/// One person (living people in trees the caller does not belong to come masked).
#[utoipa::path(get, path = "/api/v1/persons/{id}", tag = "genealogy",
    responses((status = 200, body = PersonView), (status = 404, description = "No such person, or hidden")))]
async fn get_person(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
) -> ApiResult<PersonView> {
    s.service
        .get_person(&actor(&id), &person)
        .await
        .map(Json)
        .map_err(problem)
}

/// Changes a person (editors of one of their trees).
#[utoipa::path(patch, path = "/api/v1/persons/{id}", tag = "genealogy", request_body = PersonPatch,
    responses((status = 200, body = PersonView)))]
async fn update_person(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
    ApiJson(body): ApiJson<PersonPatch>,
) -> ApiResult<PersonView> {
    s.service
        .update_person(&actor(&id), &person, body)
        .await
        .map(Json)
        .map_err(problem)
}

/// Deletes a person with their relationships (recorded; revertable).
#[utoipa::path(delete, path = "/api/v1/persons/{id}", tag = "genealogy",
    responses((status = 204, description = "Deleted")))]
async fn delete_person(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
) -> Result<StatusCode, Problem> {
    s.service
        .delete_person(&actor(&id), &person)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(problem)
}

/// Links a person into another tree.
#[utoipa::path(put, path = "/api/v1/persons/{id}/trees/{tree_id}", tag = "genealogy",
    responses((status = 200, body = PersonView)))]
async fn link_person(
    State(s): State<ApiState>,
    id: Identity,
    Path((person, tree)): Path<(String, String)>,
) -> ApiResult<PersonView> {
    s.service
        .link_person(&actor(&id), &person, &tree)
        .await
        .map(Json)
        .map_err(problem)
}

/// Unlinks a person from a tree.
#[utoipa::path(delete, path = "/api/v1/persons/{id}/trees/{tree_id}", tag = "genealogy",
    responses((status = 204, description = "Unlinked"), (status = 409, description = "Their only tree")))]
async fn unlink_person(
    State(s): State<ApiState>,
    id: Identity,
    Path((person, tree)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    s.service
        .unlink_person(&actor(&id), &person, &tree)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(problem)
}

/// Parents, partners, children and siblings.
#[utoipa::path(get, path = "/api/v1/persons/{id}/family", tag = "genealogy",
    responses((status = 200, body = Family)))]
async fn family(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
) -> ApiResult<Family> {
    s.service
        .family(&actor(&id), &person)
        .await
        .map(Json)
        .map_err(problem)
}

/// Ancestors, generation by generation.
#[utoipa::path(get, path = "/api/v1/persons/{id}/ancestors", tag = "genealogy", params(GenerationsQuery),
    responses((status = 200, body = Pedigree)))]
async fn ancestors(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
    ApiQuery(q): ApiQuery<GenerationsQuery>,
) -> ApiResult<Pedigree> {
    s.service
        .pedigree(&actor(&id), &person, q.generations.unwrap_or(4), true)
        .await
        .map(Json)
        .map_err(problem)
}

/// Descendants, generation by generation.
#[utoipa::path(get, path = "/api/v1/persons/{id}/descendants", tag = "genealogy", params(GenerationsQuery),
    responses((status = 200, body = Pedigree)))]
async fn descendants(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
    ApiQuery(q): ApiQuery<GenerationsQuery>,
) -> ApiResult<Pedigree> {
    s.service
        .pedigree(&actor(&id), &person, q.generations.unwrap_or(4), false)
        .await
        .map(Json)
        .map_err(problem)
}

/// What `other` is to this person, in words, with the path.
#[utoipa::path(get, path = "/api/v1/persons/{id}/relationship-to/{other}", tag = "genealogy",
    responses((status = 200, body = KinshipView)))]
async fn relationship_to(
    State(s): State<ApiState>,
    id: Identity,
    Path((person, other)): Path<(String, String)>,
) -> ApiResult<KinshipView> {
    s.service
        .relationship_to(&actor(&id), &person, &other)
        .await
        .map(Json)
        .map_err(problem)
}

/// A person's events in date order.
#[utoipa::path(get, path = "/api/v1/persons/{id}/events", tag = "genealogy",
    responses((status = 200, body = Vec<Event>)))]
async fn person_events(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
) -> ApiResult<Vec<Event>> {
    s.service
        .person_events(&actor(&id), &person)
        .await
        .map(Json)
        .map_err(problem)
}

/// A person's relationships.
#[utoipa::path(get, path = "/api/v1/persons/{id}/relationships", tag = "genealogy",
    responses((status = 200, body = Vec<Relationship>)))]
async fn person_relationships(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
) -> ApiResult<Vec<Relationship>> {
    s.service
        .person_relationships(&actor(&id), &person)
        .await
        .map(Json)
        .map_err(problem)
}

/// A person's history, newest first (tree members).
#[utoipa::path(get, path = "/api/v1/persons/{id}/history", tag = "genealogy", params(PageQuery),
    responses((status = 200, body = Paged<HistoryEntry>)))]
async fn person_history(
    State(s): State<ApiState>,
    id: Identity,
    Path(person): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Paged<HistoryEntry>> {
    s.service
        .person_history(&actor(&id), &person, q.page())
        .await
        .map(Json)
        .map_err(problem)
}

// ---- relationships and events

/// Records a relationship.
#[utoipa::path(post, path = "/api/v1/relationships", tag = "genealogy", request_body = NewRelationship,
    responses((status = 201, body = Relationship), (status = 409, description = "Already linked")))]
async fn create_relationship(
    State(s): State<ApiState>,
    id: Identity,
    ApiJson(body): ApiJson<NewRelationship>,
) -> Result<Response, Problem> {
    s.service
        .create_relationship(&actor(&id), body)
        .await
        .map(created)
        .map_err(problem)
}

/// One relationship.
#[utoipa::path(get, path = "/api/v1/relationships/{id}", tag = "genealogy",
    responses((status = 200, body = Relationship)))]
async fn get_relationship(
    State(s): State<ApiState>,
    id: Identity,
    Path(rel): Path<String>,
) -> ApiResult<Relationship> {
    s.service
        .get_relationship(&actor(&id), &rel)
        .await
        .map(Json)
        .map_err(problem)
}

/// Changes a relationship's kind, events or citations.
#[utoipa::path(patch, path = "/api/v1/relationships/{id}", tag = "genealogy", request_body = RelationshipPatch,
    responses((status = 200, body = Relationship)))]
async fn update_relationship(
    State(s): State<ApiState>,
    id: Identity,
    Path(rel): Path<String>,
    ApiJson(body): ApiJson<RelationshipPatch>,
) -> ApiResult<Relationship> {
    s.service
        .update_relationship(&actor(&id), &rel, body)
        .await
        .map(Json)
        .map_err(problem)
}

/// Deletes a relationship.
#[utoipa::path(delete, path = "/api/v1/relationships/{id}", tag = "genealogy",
    responses((status = 204, description = "Deleted")))]
async fn delete_relationship(
    State(s): State<ApiState>,
    id: Identity,
    Path(rel): Path<String>,
) -> Result<StatusCode, Problem> {
    s.service
        .delete_relationship(&actor(&id), &rel)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(problem)
}

/// Records an event.
#[utoipa::path(post, path = "/api/v1/events", tag = "genealogy", request_body = EventInput,
    responses((status = 201, body = Event), (status = 422, description = "Invalid field, e.g. date")))]
async fn create_event(
    State(s): State<ApiState>,
    id: Identity,
    ApiJson(body): ApiJson<EventInput>,
) -> Result<Response, Problem> {
    s.service
        .create_event(&actor(&id), body)
        .await
        .map(created)
        .map_err(problem)
}

/// One event.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "genealogy",
    responses((status = 200, body = Event)))]
async fn get_event(
    State(s): State<ApiState>,
    id: Identity,
    Path(ev): Path<String>,
) -> ApiResult<Event> {
    s.service
        .get_event(&actor(&id), &ev)
        .await
        .map(Json)
        .map_err(problem)
}

/// Replaces an event.
#[utoipa::path(put, path = "/api/v1/events/{id}", tag = "genealogy", request_body = EventInput,
    responses((status = 200, body = Event)))]
async fn replace_event(
    State(s): State<ApiState>,
    id: Identity,
    Path(ev): Path<String>,
    ApiJson(body): ApiJson<EventInput>,
) -> ApiResult<Event> {
    s.service
        .replace_event(&actor(&id), &ev, body)
        .await
        .map(Json)
        .map_err(problem)
}

/// Deletes an event.
#[utoipa::path(delete, path = "/api/v1/events/{id}", tag = "genealogy",
    responses((status = 204, description = "Deleted")))]
async fn delete_event(
    State(s): State<ApiState>,
    id: Identity,
    Path(ev): Path<String>,
) -> Result<StatusCode, Problem> {
    s.service
        .delete_event(&actor(&id), &ev)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(problem)
}

// ---- tree records: sources, citations, repositories, notes

macro_rules! record_routes {
    ($t:ty, $input:ty, $list:ident, $create:ident, $get:ident, $replace:ident, $delete:ident,
     $list_path:literal, $item_path:literal, $pty:ty) => {
        #[doc = concat!("Lists a tree's ", stringify!($t), " records.")]
        #[utoipa::path(get, path = $list_path, tag = "genealogy", params(PageQuery),
            responses((status = 200, body = Paged<$t>)))]
        async fn $list(
            State(s): State<ApiState>,
            id: Identity,
            Path(tree): Path<String>,
            ApiQuery(q): ApiQuery<PageQuery>,
        ) -> ApiResult<Paged<$t>> {
            s.service
                .list_records::<$t>(&actor(&id), &tree, q.page())
                .await
                .map(Json)
                .map_err(problem)
        }

        #[doc = concat!("Creates a ", stringify!($t), " in a tree (editors).")]
        #[utoipa::path(post, path = $list_path, tag = "genealogy", request_body = $input,
            responses((status = 201, body = $t), (status = 422, description = "Invalid field")))]
        async fn $create(
            State(s): State<ApiState>,
            id: Identity,
            Path(tree): Path<String>,
            ApiJson(body): ApiJson<$input>,
        ) -> Result<Response, Problem> {
            s.service
                .create_record::<$t, $input>(&actor(&id), &tree, body)
                .await
                .map(created)
                .map_err(problem)
        }

        #[doc = concat!("One ", stringify!($t), ".")]
        #[utoipa::path(get, path = $item_path, tag = "genealogy",
            responses((status = 200, body = $t)))]
        async fn $get(
            State(s): State<ApiState>,
            id: Identity,
            Path(path): Path<$pty>,
        ) -> ApiResult<$t> {
            s.service
                .get_record::<$t>(&actor(&id), &path.record_id())
                .await
                .map(Json)
                .map_err(problem)
        }

        #[doc = concat!("Replaces a ", stringify!($t), " (editors).")]
        #[utoipa::path(put, path = $item_path, tag = "genealogy", request_body = $input,
            responses((status = 200, body = $t)))]
        async fn $replace(
            State(s): State<ApiState>,
            id: Identity,
            Path(path): Path<$pty>,
            ApiJson(body): ApiJson<$input>,
        ) -> ApiResult<$t> {
            s.service
                .replace_record::<$t, $input>(&actor(&id), &path.record_id(), body)
                .await
                .map(Json)
                .map_err(problem)
        }

        #[doc = concat!("Deletes a ", stringify!($t), " (editors; refused while in use).")]
        #[utoipa::path(delete, path = $item_path, tag = "genealogy",
            responses((status = 204, description = "Deleted"), (status = 409, description = "Still in use")))]
        async fn $delete(
            State(s): State<ApiState>,
            id: Identity,
            Path(path): Path<$pty>,
        ) -> Result<StatusCode, Problem> {
            s.service
                .delete_record::<$t>(&actor(&id), &path.record_id())
                .await
                .map(|()| StatusCode::NO_CONTENT)
                .map_err(problem)
        }
    };
}

/// The record id from a path: `{id}`, or `{tree_id}/.../{id}` for repositories and notes.
trait RecordId {
    fn record_id(self) -> String;
}

impl RecordId for String {
    fn record_id(self) -> String {
        self
    }
}

impl RecordId for (String, String) {
    fn record_id(self) -> String {
        self.1
    }
}

record_routes!(
    Source,
    SourceInput,
    list_sources,
    create_source,
    get_source,
    replace_source,
    delete_source,
    "/api/v1/trees/{tree_id}/sources",
    "/api/v1/sources/{id}",
    String
);
record_routes!(
    Citation,
    CitationInput,
    list_citations,
    create_citation,
    get_citation,
    replace_citation,
    delete_citation,
    "/api/v1/trees/{tree_id}/citations",
    "/api/v1/citations/{id}",
    String
);
record_routes!(
    Repository,
    RepositoryInput,
    list_repositories,
    create_repository,
    get_repository,
    replace_repository,
    delete_repository,
    "/api/v1/trees/{tree_id}/repositories",
    "/api/v1/trees/{tree_id}/repositories/{id}",
    (String, String)
);
record_routes!(
    Note,
    NoteInput,
    list_notes,
    create_note,
    get_note,
    replace_note,
    delete_note,
    "/api/v1/trees/{tree_id}/notes",
    "/api/v1/trees/{tree_id}/notes/{id}",
    (String, String)
);

// ---- history, merges, notifications

/// One history entry (tree members).
#[utoipa::path(get, path = "/api/v1/person-history/{id}", tag = "genealogy",
    responses((status = 200, body = HistoryEntry)))]
async fn get_history(
    State(s): State<ApiState>,
    id: Identity,
    Path(entry): Path<String>,
) -> ApiResult<HistoryEntry> {
    s.service
        .history_entry(&actor(&id), &entry)
        .await
        .map(Json)
        .map_err(problem)
}

/// Reverts a history entry (editors); the revert is recorded too.
#[utoipa::path(post, path = "/api/v1/person-history/{id}/revert", tag = "genealogy",
    responses((status = 200, body = HistoryEntry), (status = 409, description = "Changed since, or already reverted")))]
async fn revert(
    State(s): State<ApiState>,
    id: Identity,
    Path(entry): Path<String>,
) -> ApiResult<HistoryEntry> {
    s.service
        .revert(&actor(&id), &entry)
        .await
        .map(Json)
        .map_err(problem)
}

/// Suggests two persons are the same (editors).
#[utoipa::path(post, path = "/api/v1/merge-suggestions", tag = "genealogy", request_body = NewMergeSuggestion,
    responses((status = 201, body = MergeSuggestion)))]
async fn create_suggestion(
    State(s): State<ApiState>,
    id: Identity,
    ApiJson(body): ApiJson<NewMergeSuggestion>,
) -> Result<Response, Problem> {
    s.service
        .create_merge_suggestion(&actor(&id), body)
        .await
        .map(created)
        .map_err(problem)
}

/// A tree's merge suggestions (members).
#[utoipa::path(get, path = "/api/v1/trees/{tree_id}/merge-suggestions", tag = "genealogy", params(SuggestionQuery),
    responses((status = 200, body = Paged<MergeSuggestion>)))]
async fn list_suggestions(
    State(s): State<ApiState>,
    id: Identity,
    Path(tree): Path<String>,
    ApiQuery(q): ApiQuery<SuggestionQuery>,
) -> ApiResult<Paged<MergeSuggestion>> {
    s.service
        .list_merge_suggestions(
            &actor(&id),
            &tree,
            q.status,
            PageRequest::new(q.offset, q.limit),
        )
        .await
        .map(Json)
        .map_err(problem)
}

/// One merge suggestion.
#[utoipa::path(get, path = "/api/v1/merge-suggestions/{id}", tag = "genealogy",
    responses((status = 200, body = MergeSuggestion)))]
async fn get_suggestion(
    State(s): State<ApiState>,
    id: Identity,
    Path(sid): Path<String>,
) -> ApiResult<MergeSuggestion> {
    s.service
        .get_merge_suggestion(&actor(&id), &sid)
        .await
        .map(Json)
        .map_err(problem)
}

/// Accepts a suggestion: merges the two persons (undoable).
#[utoipa::path(post, path = "/api/v1/merge-suggestions/{id}/accept", tag = "genealogy", request_body = AcceptInput,
    responses((status = 200, body = MergeOutcome)))]
async fn accept_suggestion(
    State(s): State<ApiState>,
    id: Identity,
    Path(sid): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<MergeOutcome> {
    let input: AcceptInput = if body.iter().all(u8::is_ascii_whitespace) {
        AcceptInput::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Problem::validation(vec![FieldError {
                field: "survivor".into(),
                message: e.to_string(),
            }])
        })?
    };
    s.service
        .accept_merge(&actor(&id), &sid, input.survivor)
        .await
        .map(Json)
        .map_err(problem)
}

/// Rejects a suggestion.
#[utoipa::path(post, path = "/api/v1/merge-suggestions/{id}/reject", tag = "genealogy",
    responses((status = 200, body = MergeSuggestion)))]
async fn reject_suggestion(
    State(s): State<ApiState>,
    id: Identity,
    Path(sid): Path<String>,
) -> ApiResult<MergeSuggestion> {
    s.service
        .reject_merge(&actor(&id), &sid)
        .await
        .map(Json)
        .map_err(problem)
}

/// Undoes an accepted merge.
#[utoipa::path(post, path = "/api/v1/merge-suggestions/{id}/undo", tag = "genealogy",
    responses((status = 200, body = MergeSuggestion)))]
async fn undo_suggestion(
    State(s): State<ApiState>,
    id: Identity,
    Path(sid): Path<String>,
) -> ApiResult<MergeSuggestion> {
    s.service
        .undo_merge(&actor(&id), &sid)
        .await
        .map(Json)
        .map_err(problem)
}

/// The caller's notifications.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "genealogy", params(NotificationQuery),
    responses((status = 200, body = Paged<Notification>)))]
async fn list_notifications(
    State(s): State<ApiState>,
    id: Identity,
    ApiQuery(q): ApiQuery<NotificationQuery>,
) -> ApiResult<Paged<Notification>> {
    let filter = crate::service::NotificationFilter { unread: q.unread };
    s.service
        .notifications(&actor(&id), filter, PageRequest::new(q.offset, q.limit))
        .await
        .map(Json)
        .map_err(problem)
}

/// Marks a notification read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "genealogy",
    responses((status = 200, body = Notification)))]
async fn read_notification(
    State(s): State<ApiState>,
    id: Identity,
    Path(nid): Path<String>,
) -> ApiResult<Notification> {
    s.service
        .mark_read(&actor(&id), &nid)
        .await
        .map(Json)
        .map_err(problem)
}

/// Marks every notification read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "genealogy",
    responses((status = 200, body = MarkedRead)))]
async fn read_all(State(s): State<ApiState>, id: Identity) -> ApiResult<MarkedRead> {
    s.service
        .mark_all_read(&actor(&id))
        .await
        .map(|marked| Json(MarkedRead { marked }))
        .map_err(problem)
}

/// The genealogy routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/family-trees", get(list_trees).post(create_tree))
        .route(
            "/v1/family-trees/{id}",
            get(get_tree).patch(update_tree).delete(delete_tree),
        )
        .route(
            "/v1/family-trees/{id}/collaborators",
            post(add_collaborator),
        )
        .route(
            "/v1/family-trees/{id}/collaborators/{member}",
            axum::routing::patch(set_role).delete(remove_collaborator),
        )
        .route(
            "/v1/trees/{tree_id}/persons",
            get(list_persons).post(create_person),
        )
        .route(
            "/v1/trees/{tree_id}/sources",
            get(list_sources).post(create_source),
        )
        .route(
            "/v1/trees/{tree_id}/citations",
            get(list_citations).post(create_citation),
        )
        .route(
            "/v1/trees/{tree_id}/repositories",
            get(list_repositories).post(create_repository),
        )
        .route(
            "/v1/trees/{tree_id}/repositories/{id}",
            get(get_repository)
                .put(replace_repository)
                .delete(delete_repository),
        )
        .route(
            "/v1/trees/{tree_id}/notes",
            get(list_notes).post(create_note),
        )
        .route(
            "/v1/trees/{tree_id}/notes/{id}",
            get(get_note).put(replace_note).delete(delete_note),
        )
        .route(
            "/v1/trees/{tree_id}/merge-suggestions",
            get(list_suggestions),
        )
        .route(
            "/v1/sources/{id}",
            get(get_source).put(replace_source).delete(delete_source),
        )
        .route(
            "/v1/citations/{id}",
            get(get_citation)
                .put(replace_citation)
                .delete(delete_citation),
        )
        .route("/v1/persons/search", get(search_persons))
        .route(
            "/v1/persons/{id}",
            get(get_person).patch(update_person).delete(delete_person),
        )
        .route(
            "/v1/persons/{id}/trees/{tree_id}",
            put(link_person).delete(unlink_person),
        )
        .route("/v1/persons/{id}/family", get(family))
        .route("/v1/persons/{id}/ancestors", get(ancestors))
        .route("/v1/persons/{id}/descendants", get(descendants))
        .route(
            "/v1/persons/{id}/relationship-to/{other}",
            get(relationship_to),
        )
        .route("/v1/persons/{id}/events", get(person_events))
        .route("/v1/persons/{id}/relationships", get(person_relationships))
        .route("/v1/persons/{id}/history", get(person_history))
        .route("/v1/relationships", post(create_relationship))
        .route(
            "/v1/relationships/{id}",
            get(get_relationship)
                .patch(update_relationship)
                .delete(delete_relationship),
        )
        .route("/v1/events", post(create_event))
        .route(
            "/v1/events/{id}",
            get(get_event).put(replace_event).delete(delete_event),
        )
        .route("/v1/person-history/{id}", get(get_history))
        .route("/v1/person-history/{id}/revert", post(revert))
        .route("/v1/merge-suggestions", post(create_suggestion))
        .route("/v1/merge-suggestions/{id}", get(get_suggestion))
        .route("/v1/merge-suggestions/{id}/accept", post(accept_suggestion))
        .route("/v1/merge-suggestions/{id}/reject", post(reject_suggestion))
        .route("/v1/merge-suggestions/{id}/undo", post(undo_suggestion))
        .route("/v1/notifications", get(list_notifications))
        .route("/v1/notifications/read-all", post(read_all))
        .route("/v1/notifications/{id}/read", post(read_notification))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_trees, create_tree, get_tree, update_tree, delete_tree, add_collaborator, set_role,
        remove_collaborator, list_persons, create_person, search_persons, get_person,
        update_person, delete_person, link_person, unlink_person, family, ancestors, descendants,
        relationship_to, person_events, person_relationships, person_history,
        create_relationship, get_relationship, update_relationship, delete_relationship,
        create_event, get_event, replace_event, delete_event,
        list_sources, create_source, get_source, replace_source, delete_source,
        list_citations, create_citation, get_citation, replace_citation, delete_citation,
        list_repositories, create_repository, get_repository, replace_repository,
        delete_repository, list_notes, create_note, get_note, replace_note, delete_note,
        get_history, revert, create_suggestion, list_suggestions, get_suggestion,
        accept_suggestion, reject_suggestion, undo_suggestion, list_notifications,
        read_notification, read_all
    ),
    components(schemas(
        TreeView, FamilyTree, Collaborator, TreeSettings, Role, PersonView, PersonSummary, Name,
        Sex, Vital,
        Place, PlaceInput, Event, Relationship, Source, Citation, Repository, Note, HistoryEntry,
        MergeSuggestion, Notification, Family, FamilyMember, Pedigree, AncestorNode, KinshipView,
        PathStep, Step, StepKind, MergeOutcome, RoleInput, AcceptInput, MarkedRead
    )),
    tags((name = "genealogy", description = "Family trees, persons, relationships, events, sources, history, merges"))
)]
struct ApiDoc;

/// The public API description, with paths as the gateway exposes them.
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
