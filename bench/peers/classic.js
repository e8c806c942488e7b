// The classic Axios response interceptor (the well-known answer): on a 401, mark the
// request with `_retry`, refresh, store the new tokens, replay the request once.
import { api, expose, refreshTokens } from "./session.js";

api.interceptors.response.use(
  (response) => response,
  async (error) => {
    const original = error.config;
    if (error.response?.status === 401 && original && !original._retry) {
      original._retry = true;
      await refreshTokens();
      return api(original);
    }
    return Promise.reject(error);
  },
);

expose("classic interceptor");
