// axios-auth-refresh with its default options: createAuthRefreshInterceptor(axios, logic).
// The replay goes through the API instance's request interceptor, which reads the new
// access token from localStorage.
import createAuthRefreshInterceptor from "/bench/node_modules/axios-auth-refresh/dist/index.esm.js";
import { api, expose, refreshTokens } from "./session.js";

createAuthRefreshInterceptor(api, () => refreshTokens());

expose("axios-auth-refresh");
