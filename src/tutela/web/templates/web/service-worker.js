// Tutela's service worker, served by tutela.web.pwa at /service-worker.js.
//
// Requests are routed by kind:
// - the app's static files (style sheet, scripts, icons): cache first, from a cache named after
//   the app version, so later pages load without fetching them again;
// - pages: network only. When the server cannot be reached, the offline page is shown instead;
// - everything else (forms sent, htmx requests, the API): the browser's usual handling.
//
// PRIVACY: pages are never stored. They show children's case data, which must not stay in the
// browser's caches of a phone that may be lost, shared or seized. Only the static files and the
// offline page, which hold no case data and no user details, are kept.
//
// NOTE: capturing records offline is not built. It would add its own route here (record drafts
// kept encrypted in IndexedDB, sent by a "sync" event), beside these ones.
"use strict";

const CONFIG = {{ config|safe }};
const SHELL_CACHE = "tutela-shell-" + CONFIG.version;
const OFFLINE_CACHE = "tutela-offline-" + CONFIG.version;
// The offline page in the language of the last page shown, kept under one key. Its
// Content-Language header says which language it is in.
const OFFLINE_KEY = "/offline/";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL_CACHE);
      // "no-cache" revalidates with the server, so that a new version never keeps an old file
      // from the browser's HTTP cache.
      await cache.addAll(CONFIG.shell.map((url) => new Request(url, { cache: "no-cache" })));
      await cacheOfflinePage(CONFIG.defaultLanguage);
      await self.skipWaiting();
    })()
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const current = [SHELL_CACHE, OFFLINE_CACHE];
      for (const name of await caches.keys()) {
        if (name.startsWith("tutela-") && !current.includes(name)) {
          await caches.delete(name);
        }
      }
      await self.clients.claim();
    })()
  );
});

// Each page reports its language (tutela.js), so that the offline page matches it.
self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.type === "page-language" && CONFIG.offlinePages[data.language]) {
    event.waitUntil(cacheOfflinePage(data.language));
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;

  if (request.mode === "navigate") {
    event.respondWith(pageOrOffline(request));
  } else if (url.pathname.startsWith(CONFIG.shellPrefix)) {
    event.respondWith(cacheFirst(request));
  }
});

async function pageOrOffline(request) {
  try {
    // Straight from the network, and never put in a cache (see PRIVACY above).
    return await fetch(request);
  } catch (error) {
    const cache = await caches.open(OFFLINE_CACHE);
    const page = await cache.match(OFFLINE_KEY);
    return page || new Response("Offline", { status: 503, headers: { "Content-Type": "text/plain" } });
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) await cache.put(request, response.clone());
  return response;
}

async function cacheOfflinePage(language) {
  const cache = await caches.open(OFFLINE_CACHE);
  const cached = await cache.match(OFFLINE_KEY);
  if (cached && cached.headers.get("Content-Language") === language) return;
  try {
    const response = await fetch(CONFIG.offlinePages[language], { cache: "no-cache" });
    if (response.ok) await cache.put(OFFLINE_KEY, response);
  } catch (error) {
    // Offline already: keep the page in the language cached before.
  }
}
