/** The dashboard every metadata replica serves: its routes, and the page for tests that read it. */

export { DASHBOARD_HTML } from "./page.js";
export { DASHBOARD_ROUTES, type DashboardDeps, registerDashboard } from "./routes.js";
