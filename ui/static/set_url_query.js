(q) => { const u = q ? ('?' + q) : window.location.pathname; window.history.replaceState(null, '', u); }
