// Progressive only: every page works without this file.
// The period picker submits as soon as a preset is chosen.
document.querySelectorAll('select[data-autosubmit]').forEach((select) => {
  select.addEventListener('change', () => {
    if (select.value) select.form.submit();
  });
});

// Tables of a page's own rows (class "sortable") sort in the browser by a
// click or Enter on a heading: by each cell's data-v (exact number or
// instant) when it has one, else by its text. The organisation-wide
// leaderboards sort on the server instead (their headings are links).
document.querySelectorAll('table.sortable').forEach((table) => {
  const heads = [...table.querySelectorAll('thead th')];
  heads.forEach((th, col) => {
    th.tabIndex = 0;
    th.classList.add('js-sort');
    const sort = () => {
      const desc = th.getAttribute('aria-sort') !== 'descending';
      heads.forEach((h) => h.removeAttribute('aria-sort'));
      th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
      const key = (tr) => {
        const td = tr.children[col];
        return td ? (td.dataset.v ?? td.textContent.trim()) : '';
      };
      const body = table.tBodies[0];
      const rows = [...body.rows];
      rows.sort((a, b) => {
        const [x, y] = [key(a), key(b)];
        const [nx, ny] = [Number(x), Number(y)];
        const c = x !== '' && y !== '' && !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
        return desc ? -c : c;
      });
      rows.forEach((r) => body.appendChild(r));
    };
    th.addEventListener('click', sort);
    th.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        sort();
      }
    });
  });
});
