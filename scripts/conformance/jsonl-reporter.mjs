// node --test reporter used by run.sh: one JSON object per line for every test start and result,
// written as each event arrives (the built-in junit reporter writes only at the end, so a
// killed test file would leave nothing). Fields: ev (start|pass|fail), name, nesting, type
// (suite|test), skip, ms, error (message and cause, first 500 characters).
export default async function* jsonlReporter(source) {
  for await (const event of source) {
    const d = event.data || {};
    if (event.type === 'test:start') {
      yield JSON.stringify({ ev: 'start', name: d.name, nesting: d.nesting, file: d.file }) + '\n';
    } else if (event.type === 'test:pass' || event.type === 'test:fail') {
      const det = d.details || {};
      let error = '';
      if (event.type === 'test:fail' && det.error) {
        const e = det.error;
        const cause = e.cause && e.cause !== e ? e.cause : null;
        error = [e.failureType, cause ? String(cause.message || cause) : '', e.message]
          .filter(Boolean).join(' | ').replace(/\s+/g, ' ').slice(0, 500);
      }
      yield JSON.stringify({
        ev: event.type === 'test:pass' ? 'pass' : 'fail',
        name: d.name, nesting: d.nesting, file: d.file,
        type: det.type || 'test', skip: d.skip !== undefined && d.skip !== false,
        ms: det.duration_ms, error,
      }) + '\n';
    }
  }
}
