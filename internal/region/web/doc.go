// Package web is the operator web page of the region: server-rendered
// html/template pages with a little vanilla JavaScript, every asset embedded
// (no build step, no CDN), mounted by regiond at / and /ui/ beside /api/v1.
//
// It owns the browser session (login with username and password, an
// HttpOnly SameSite=Lax cookie naming a server-side session, Secure over
// TLS), CSRF protection of every state-changing form (a synchronizer token
// per session; a double-submit cookie for the login form), the pages
// (machines with filters, search and cursor paging, a machine with
// inventory, interfaces, power settings and events, actions with a
// confirmation step, controllers, networks, boot resources) and the small
// JSON endpoints the pages poll for live updates.
//
// It owns no business logic and makes no authorization decision of its
// own: a login trades the password for an API key through POST
// /api/v1/login, and every page calls the region's API handler in-process
// with that key, so the page shows exactly what the API shows the same user
// (a non-admin sees the Ready pool and their own machines) and fails with
// the API's own error (an invalid transition names the status and the
// allowed actions). Logging out revokes the key.
//
// Sessions live in memory: a restarted regiond logs everyone out.
package web
