() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(() => { document.documentElement.classList.remove('lb-pending'); resolve([]); }, 0)))
