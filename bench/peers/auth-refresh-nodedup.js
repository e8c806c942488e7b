// axios-auth-refresh with deduplicateRefresh: false (its other options default):
// every request that meets a 401 while a refresh runs waits for that refresh.
import createAuthRefreshInterceptor from "/bench/node_modules/axios-auth-refresh/dist/index.esm.js";
import { api, expose, refreshTokens } from "./session.js";

createAuthRefreshInterceptor(api, () => refreshTokens(), { deduplicateRefresh: false });

expose("axios-auth-refresh, deduplicateRefresh: false");
