// Preloaded (node --test --require) into each amqplib test file by run.sh.
//
// 1. Every it()/test() and hook gets a timeout (TEST_TIMEOUT_MS, default 10000) unless it sets one.
//    node 20's --test-timeout also applies to the whole test file, so a hang there kills the file
//    and hides which test hung; a per-test timeout fails only the hung test and the file goes on.
// 2. After the file's last test, the runner gets 2 s to report, then the process exits even if a
//    hung test left sockets or timers behind (like mocha --exit). run.sh's outer timeout remains
//    the last resort.
const t = require('node:test');
const T = Number(process.env.TEST_TIMEOUT_MS || 10000);

function withTimeout(orig) {
  const wrapped = function (name, options, fn) {
    if (typeof name === 'function') { fn = name; name = undefined; options = {}; }
    else if (typeof options === 'function') { fn = options; options = {}; }
    options = Object.assign({ timeout: T }, options || {});
    return orig.call(this, name, options, fn);
  };
  for (const k of Object.keys(orig)) wrapped[k] = orig[k];
  for (const k of ['skip', 'todo', 'only']) if (orig[k]) wrapped[k] = orig[k];
  return wrapped;
}
t.it = withTimeout(t.it);
t.test = withTimeout(t.test);

// Hooks (fn, options): an afterEach that waits for a connection close that never completes
// would otherwise hang the file.
function hookWithTimeout(orig) {
  return function (fn, options) {
    return orig.call(this, fn, Object.assign({ timeout: T }, options || {}));
  };
}
for (const h of ['before', 'after', 'beforeEach', 'afterEach']) t[h] = hookWithTimeout(t[h]);

t.after(() => { setTimeout(() => process.exit(), 2000).unref(); });
