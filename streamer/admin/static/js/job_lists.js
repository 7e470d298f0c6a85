// Job lists as the API pages them (GET /jobs?status=...), read side by side.

// The four lists are read at slightly different moments, so a job that changed state in
// between (a retried job leaving "failed" for "running", then failing again) can come
// back in two of them: keep it only in the list of its newest reading (updated_at).
export function newestOnly(lists) {
  const newest = new Map();
  for (const list of Object.values(lists)) {
    for (const job of list.items) {
      const seen = newest.get(job.id);
      if (!seen || Date.parse(job.updated_at) > Date.parse(seen.updated_at)) newest.set(job.id, job);
    }
  }
  const kept = {};
  for (const [name, list] of Object.entries(lists)) {
    const items = list.items.filter((job) => newest.get(job.id) === job);
    kept[name] = { ...list, items, total: list.total - (list.items.length - items.length) };
  }
  return kept;
}
