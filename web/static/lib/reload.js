// @ts-check
// Reloading what a panel shows when the stream brings one of its events (coalesced).

import { useEffect, useRef } from '../vendor/preact-htm.js';

/** Reloads with `load` when `live` brings one of `types` for stream `stream` (coalesced). */
export function useReload(live, stream, types, load, deps) {
  const timer = useRef(null);
  useEffect(() => {
    load();
    const off = live.on((event) => {
      if ((event.stream === stream || event.room === stream) && types.has(event.type)) {
        clearTimeout(timer.current);
        timer.current = setTimeout(load, 50);
      }
    });
    return () => { off(); clearTimeout(timer.current); };
  }, deps);
}
