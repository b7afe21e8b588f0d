(keys) => { const q = new URLSearchParams(window.location.search); if (keys.some((k) => q.has(k))) document.documentElement.classList.add('lb-pending'); }
