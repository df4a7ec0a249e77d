// The named-specialist picker of the consult request form offers only the specialists of
// the specialty chosen above it, and says so when there are none. The server renders the
// same for the specialty it knows; this keeps it true as the doctor changes the choice.

for (const picker of document.querySelectorAll("select[data-specialty-filter]")) {
  const specialty = document.getElementById(picker.dataset.specialtyFilter);
  const none = picker.parentElement.querySelector("[data-no-specialists]");
  if (!specialty) continue;
  const apply = () => {
    const chosen = specialty.value;
    let offered = 0;
    for (const group of picker.querySelectorAll("optgroup[data-specialty]")) {
      const shown = !chosen || group.dataset.specialty === chosen;
      group.hidden = !shown;
      group.disabled = !shown;
      if (shown) offered += group.querySelectorAll("option").length;
    }
    const selected = picker.selectedOptions[0];
    if (selected && selected.parentElement.disabled) picker.value = "";
    if (none) none.hidden = !chosen || offered > 0;
  };
  specialty.addEventListener("change", apply);
  apply();
}
