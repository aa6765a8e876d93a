# Sourced on a lent GPU machine (by gpu_run.sh and gpu_window.sh): installs the Vulkan loader
# carried as Debian packages in .gl/ (the machine has none) and points it at NVIDIA's driver.
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$icd" ] && { export VK_DRIVER_FILES="$icd"; break; }
done
echo "vulkan driver: ${VK_DRIVER_FILES:-none found}"
nvidia-smi -L
