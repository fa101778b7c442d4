import { useEffect, useState } from "react";

// import.meta.env.BASE_URL is Vite's `base`: "/deployments/<name>/ui/".
const BASE = import.meta.env.BASE_URL.replace(/\/$/, "");

/** The path inside the app ("/" or "/runs/<id>"), following history navigation. */
export function usePath() {
  const [path, setPath] = useState(() => location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);
  return path.startsWith(BASE) ? path.slice(BASE.length) || "/" : path;
}

/** Client-side navigation: a real URL under the base path, deep-linkable (the server answers index.html). */
export function navigate(to) {
  history.pushState(null, "", BASE + to);
  dispatchEvent(new PopStateEvent("popstate"));
}
