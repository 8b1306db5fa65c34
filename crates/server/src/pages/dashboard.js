// Progressive only: every page works without this file.
// The period picker submits as soon as a preset is chosen.
document.querySelectorAll('select[data-autosubmit]').forEach((select) => {
  select.addEventListener('change', () => {
    if (select.value) select.form.submit();
  });
});
